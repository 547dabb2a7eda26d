#!/bin/bash
# api-mediatypes.sh - the manifest types a registry carries: OCI image
# manifest and index (nested, with platforms), Docker schema2 manifest and
# manifest list, OCI artifacts (artifactType; the empty descriptor
# application/vnd.oci.empty.v1+json whose blob is "{}"; custom layer
# types). For each: 201 on PUT, then GET/HEAD give the pushed bytes with
# Content-Type equal to what was pushed and no parameters. Also:
# Content-Type parameters on PUT are ignored, a manifest without a
# mediaType field, byte-exact storage of unusual JSON formatting.
. "$(dirname "$0")/../lib.sh"

dray_start
REPO=mt/app

# check_manifest REF FILE MEDIATYPE: GET and HEAD give FILE as MEDIATYPE.
check_manifest() {
	local d
	d=$(digest_of "$2")
	for ref in "$1" "$d"; do
		req GET "/v2/$REPO/manifests/$ref" -H "Accept: $3"
		assert_status 200
		assert_body_file "$2"
		assert_content_type "$3"
		assert_header Docker-Content-Digest "$d"
		req HEAD "/v2/$REPO/manifests/$ref" -H "Accept: $3"
		assert_status 200
		assert_content_type "$3"
		assert_content_length "$(filesize "$2")"
		assert_header Docker-Content-Digest "$d"
	done
}

# --- Docker schema2 manifest
mkblob "$WORK/tmp/raw" 40000
gzip -n -c "$WORK/tmp/raw" >"$WORK/tmp/layer.gz"
push_blob "$REPO" "$WORK/tmp/layer.gz"
jq -cnj --arg d "sha256:$(sha256sum <"$WORK/tmp/raw" | cut -d' ' -f1)" \
	'{architecture: "amd64", os: "linux", config: {}, rootfs: {type: "layers", diff_ids: [$d]}}' \
	>"$WORK/tmp/dconfig"
push_blob "$REPO" "$WORK/tmp/dconfig"
jq -cnj --argjson c "$(desc "$MT_DOCKER_CONFIG" "$WORK/tmp/dconfig")" \
	--argjson l "$(desc "$MT_DOCKER_LAYER" "$WORK/tmp/layer.gz")" --arg mt "$MT_DOCKER_MANIFEST" \
	'{schemaVersion: 2, mediaType: $mt, config: $c, layers: [$l]}' >"$WORK/tmp/docker-m"
push_manifest "$REPO" docker "$WORK/tmp/docker-m" "$MT_DOCKER_MANIFEST"
check_manifest docker "$WORK/tmp/docker-m" "$MT_DOCKER_MANIFEST"

# --- Docker manifest list
jq -cnj --argjson m "$(desc "$MT_DOCKER_MANIFEST" "$WORK/tmp/docker-m")" --arg mt "$MT_DOCKER_LIST" \
	'{schemaVersion: 2, mediaType: $mt,
	  manifests: [$m + {platform: {architecture: "amd64", os: "linux"}}]}' >"$WORK/tmp/docker-l"
push_manifest "$REPO" dockerlist "$WORK/tmp/docker-l" "$MT_DOCKER_LIST"
check_manifest dockerlist "$WORK/tmp/docker-l" "$MT_DOCKER_LIST"

# --- OCI image index over two OCI manifests, then an index of indexes
push_image "$REPO" amd64 1 3000
AMD=$IMG_DIR/manifest.json
push_image "$REPO" arm64 1 3001
ARM=$IMG_DIR/manifest.json
jq -cnj --argjson a "$(desc "$MT_OCI_MANIFEST" "$AMD")" --argjson b "$(desc "$MT_OCI_MANIFEST" "$ARM")" \
	--arg mt "$MT_OCI_INDEX" \
	'{schemaVersion: 2, mediaType: $mt, manifests: [
	   $a + {platform: {architecture: "amd64", os: "linux"}},
	   $b + {platform: {architecture: "arm64", os: "linux", variant: "v8"}}]}' >"$WORK/tmp/index"
push_manifest "$REPO" multi "$WORK/tmp/index" "$MT_OCI_INDEX"
check_manifest multi "$WORK/tmp/index" "$MT_OCI_INDEX"
jq -cnj --argjson i "$(desc "$MT_OCI_INDEX" "$WORK/tmp/index")" \
	--argjson d "$(desc "$MT_DOCKER_MANIFEST" "$WORK/tmp/docker-m")" --arg mt "$MT_OCI_INDEX" \
	'{schemaVersion: 2, mediaType: $mt, manifests: [$i, $d],
	  annotations: {"org.opencontainers.image.title": "nested"}}' >"$WORK/tmp/index2"
push_manifest "$REPO" nested "$WORK/tmp/index2" "$MT_OCI_INDEX"
check_manifest nested "$WORK/tmp/index2" "$MT_OCI_INDEX"

# --- artifacts: empty config and empty layer; custom layer types
printf '{}' >"$WORK/tmp/empty.json"
push_blob "$REPO" "$WORK/tmp/empty.json"
assert_eq "$EMPTY_DIGEST" "$BLOB_DIGEST" "digest of {}"
EMPTY=$(jq -cn --arg mt "$MT_OCI_EMPTY" --arg d "$EMPTY_DIGEST" \
	'{mediaType: $mt, digest: $d, size: 2, data: "e30="}')
mkmanifest "$WORK/tmp/art1" "$EMPTY" "$EMPTY" -- \
	'{"artifactType": "application/vnd.example.minimal.v1"}'
push_manifest "$REPO" artifact-minimal "$WORK/tmp/art1" "$MT_OCI_MANIFEST"
check_manifest artifact-minimal "$WORK/tmp/art1" "$MT_OCI_MANIFEST"

mkblob "$WORK/tmp/data.bin" 12345
push_blob "$REPO" "$WORK/tmp/data.bin"
mkmanifest "$WORK/tmp/art2" "$EMPTY" \
	"$(desc application/vnd.example.data.v1.tar "$WORK/tmp/data.bin")" -- \
	'{"artifactType": "application/vnd.example.data.v1",
	  "annotations": {"org.opencontainers.image.title": "data.bin"}}'
push_manifest "$REPO" artifact-data "$WORK/tmp/art2" "$MT_OCI_MANIFEST"
check_manifest artifact-data "$WORK/tmp/art2" "$MT_OCI_MANIFEST"

# An artifact with a custom config type (pre-1.1 style).
printf '{"kind":"helm"}' >"$WORK/tmp/helmcfg"
push_blob "$REPO" "$WORK/tmp/helmcfg"
mkmanifest "$WORK/tmp/art3" "$(desc application/vnd.cncf.helm.config.v1+json "$WORK/tmp/helmcfg")" \
	"$(desc application/vnd.cncf.helm.chart.content.v1.tar+gzip "$WORK/tmp/layer.gz")"
push_manifest "$REPO" helm "$WORK/tmp/art3" "$MT_OCI_MANIFEST"
check_manifest helm "$WORK/tmp/art3" "$MT_OCI_MANIFEST"

# An index with an artifactType.
jq -cnj --argjson m "$(desc "$MT_OCI_MANIFEST" "$WORK/tmp/art2")" --arg mt "$MT_OCI_INDEX" \
	'{schemaVersion: 2, mediaType: $mt, artifactType: "application/vnd.example.set.v1",
	  manifests: [$m]}' >"$WORK/tmp/artidx"
push_manifest "$REPO" artifact-index "$WORK/tmp/artidx" "$MT_OCI_INDEX"
check_manifest artifact-index "$WORK/tmp/artidx" "$MT_OCI_INDEX"

# --- Content-Type parameters are ignored on PUT; never sent back
push_image mt/params base 1 2222
jq -cj '.annotations = {"x": "params"}' "$IMG_DIR/manifest.json" >"$WORK/tmp/params"
req PUT /v2/mt/params/manifests/withparams \
	-H "Content-Type: $MT_OCI_MANIFEST; charset=utf-8" --data-binary "@$WORK/tmp/params"
assert_status 201
assert_header Docker-Content-Digest "$(digest_of "$WORK/tmp/params")"
req GET /v2/mt/params/manifests/withparams -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
assert_content_type "$MT_OCI_MANIFEST"
assert_body_file "$WORK/tmp/params"

# --- no mediaType field in the body: the Content-Type decides
jq -cj 'del(.mediaType) | .annotations = {"x": "nomediatype"}' "$IMG_DIR/manifest.json" \
	>"$WORK/tmp/nomt"
push_manifest mt/params nomt "$WORK/tmp/nomt" "$MT_OCI_MANIFEST"
req GET /v2/mt/params/manifests/nomt -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
assert_content_type "$MT_OCI_MANIFEST"
assert_body_file "$WORK/tmp/nomt"

# --- byte-exact storage: odd whitespace, key order, escapes, trailing
# newline; the digest is of these bytes.
{
	printf '{\n   "layers" : %s ,\r\n\t"config":%s,\n' \
		"$(jq -c '.layers' "$IMG_DIR/manifest.json")" "$(jq -c '.config' "$IMG_DIR/manifest.json")"
	printf '  "annotations": {"note": "caf\\u00e9 \\"quoted\\" \\/slash"},\n'
	printf '  "mediaType": "%s", "schemaVersion": 2\n}\n' "$MT_OCI_MANIFEST"
} >"$WORK/tmp/odd"
jq -e . "$WORK/tmp/odd" >/dev/null || fail "test bug: odd manifest is not JSON"
push_manifest mt/params odd "$WORK/tmp/odd" "$MT_OCI_MANIFEST"
check_odd() {
	req GET /v2/mt/params/manifests/odd -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
	assert_body_file "$WORK/tmp/odd"
	assert_header Docker-Content-Digest "$(digest_of "$WORK/tmp/odd")"
}
check_odd

if dray_only "layouts hold every type"; then
	check_layout "$WORK/data/$REPO"
	check_layout "$WORK/data/mt/params"
	# index.json records each tag with the media type that was pushed.
	for pair in "docker $MT_DOCKER_MANIFEST" "dockerlist $MT_DOCKER_LIST" \
		"multi $MT_OCI_INDEX" "artifact-data $MT_OCI_MANIFEST"; do
		set -- $pair
		assert_eq "$2" "$(jq -r --arg t "$1" '.manifests[]
			| select(.annotations["org.opencontainers.image.ref.name"] == $t) | .mediaType' \
			"$WORK/data/$REPO/index.json")" "index.json mediaType of tag $1"
	done
fi

# The same after a restart (types are not lost with the process).
dray_stop
dray_start
check_manifest dockerlist "$WORK/tmp/docker-l" "$MT_DOCKER_LIST"
check_manifest docker "$WORK/tmp/docker-m" "$MT_DOCKER_MANIFEST"
check_manifest nested "$WORK/tmp/index2" "$MT_OCI_INDEX"
check_odd
dray_stop
pass
