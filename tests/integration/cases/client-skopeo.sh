#!/bin/bash
# client-skopeo.sh - a real client end to end: skopeo copies mkimage
# layouts (image and image index) to the registry and back with
# bit-identical digests (--preserve-digests), and with skopeo's default
# gzip conversion (then the unpacked root filesystems match); inspect
# (digest, raw manifest), list-tags, registry-to-registry copy (cross-repo
# mounts), nested repository names, delete by digest.
. "$(dirname "$0")/../lib.sh"
need_mkimage

dray_start
H=127.0.0.1:$PORT
export REGISTRY_AUTH_FILE=$WORK/cfg/auth.json
printf '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
SK_LOG=$WORK/logs/skopeo.log

sk() { # sk ARGS...: run skopeo, log its output, fail on error
	log "  skopeo $*" 2>>"$SK_LOG"
	printf '+ skopeo %s\n' "$*" >>"$SK_LOG"
	timeout 900 skopeo --command-timeout 850s "$@" 2>>"$SK_LOG" ||
		fail "skopeo $* failed (exit $?); see $SK_LOG: $(tail -n 3 "$SK_LOG")"
}
SRC=$WORK/tmp/src
D1=$("$MKIMAGE" "$SRC" v1 --layers 3 --layer-size 300000 --seed 21)
D2=$("$MKIMAGE" "$SRC" multi --index --layers 2 --layer-size 10000 --seed 22)

# --- oci: -> docker://, digests preserved
sk copy --quiet --preserve-digests --dest-tls-verify=false \
	"oci:$SRC:v1" "docker://$H/sk/img:v1"
sk inspect --tls-verify=false "docker://$H/sk/img:v1" >"$WORK/tmp/inspect.json"
assert_eq "$D1" "$(jq -r .Digest "$WORK/tmp/inspect.json")" "inspect digest"
assert_eq "$(jq -c '[.layers[].digest]' "$SRC/blobs/sha256/${D1#sha256:}")" \
	"$(jq -c .Layers "$WORK/tmp/inspect.json")" "inspect layers"
sk inspect --raw --tls-verify=false "docker://$H/sk/img:v1" >"$WORK/tmp/raw"
assert_true "raw manifest is byte-identical" cmp -s "$SRC/blobs/sha256/${D1#sha256:}" "$WORK/tmp/raw"
req GET /v2/sk/img/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$D1"

# --- the index, with all its manifests
sk copy --quiet --all --preserve-digests --dest-tls-verify=false \
	"oci:$SRC:multi" "docker://$H/sk/img:multi"
sk inspect --raw --tls-verify=false "docker://$H/sk/img:multi" >"$WORK/tmp/raw"
assert_true "raw index is byte-identical" cmp -s "$SRC/blobs/sha256/${D2#sha256:}" "$WORK/tmp/raw"
req GET /v2/sk/img/manifests/multi -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$D2"
assert_content_type "$MT_OCI_INDEX"

# --- list-tags
sk list-tags --tls-verify=false "docker://$H/sk/img" >"$WORK/tmp/tags.json"
assert_eq '["multi","v1"]' "$(jq -c '.Tags | sort' "$WORK/tmp/tags.json")" "list-tags"

# --- docker:// -> oci:, bit-identical
sk copy --quiet --preserve-digests --src-tls-verify=false \
	"docker://$H/sk/img:v1" "oci:$WORK/tmp/back:v1"
assert_eq "$D1" "$(jq -r '.manifests[0].digest' "$WORK/tmp/back/index.json")" "digest after the round trip"
for f in "$SRC"/blobs/sha256/*; do
	b=$WORK/tmp/back/blobs/sha256/$(basename "$f")
	if [ -e "$b" ]; then
		assert_true "blob $(basename "$f") identical after the round trip" cmp -s "$f" "$b"
	fi
done
for dg in $(jq -r '.config.digest, .layers[].digest' "$SRC/blobs/sha256/${D1#sha256:}"); do
	assert_true "blob $dg pulled back" [ -f "$WORK/tmp/back/blobs/sha256/${dg#sha256:}" ]
done
sk copy --quiet --all --preserve-digests --src-tls-verify=false \
	"docker://$H/sk/img:multi" "oci:$WORK/tmp/back:multi"
assert_eq "$D2" "$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "multi") | .digest' \
	"$WORK/tmp/back/index.json")" "index digest after the round trip"

# --- registry to registry (skopeo tries cross-repository mounts), nested
sk copy --quiet --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
	"docker://$H/sk/img:v1" "docker://$H/sk/deep/nested/copy:v1"
sk inspect --tls-verify=false "docker://$H/sk/deep/nested/copy:v1" >"$WORK/tmp/inspect2.json"
assert_eq "$D1" "$(jq -r .Digest "$WORK/tmp/inspect2.json")" "digest of the registry-to-registry copy"

# --- skopeo's default path without --preserve-digests, with gzip layers
# (skopeo gzips uncompressed layers when copying to an oci: layout); the
# image unpacks to the same files. A fresh image: skopeo would otherwise
# reuse the uncompressed layers the registry already holds.
"$MKIMAGE" "$SRC" v3 --layers 2 --layer-size 250000 --seed 23 >/dev/null
sk copy --quiet "oci:$SRC:v3" "oci:$WORK/tmp/gzsrc:v1"
sk copy --quiet --dest-tls-verify=false "oci:$WORK/tmp/gzsrc:v1" "docker://$H/sk/gz:v1"
sk inspect --raw --tls-verify=false "docker://$H/sk/gz:v1" >"$WORK/tmp/gzraw"
assert_eq "$MT_OCI_LAYER_GZ" "$(jq -r '.layers[0].mediaType' "$WORK/tmp/gzraw")" "layers were gzipped"
sk copy --quiet --src-tls-verify=false "docker://$H/sk/gz:v1" "oci:$WORK/tmp/gzback:v1"
umoci unpack --rootless --image "$WORK/tmp/gzback:v1" "$WORK/tmp/u1" >/dev/null 2>&1 ||
	fail "umoci unpack of the gzip image failed"
umoci unpack --rootless --image "$SRC:v3" "$WORK/tmp/u2" >/dev/null 2>&1 ||
	fail "umoci unpack of the source failed"
assert_true "root filesystems match" diff -r "$WORK/tmp/u1/rootfs" "$WORK/tmp/u2/rootfs"

# --- delete by digest
sk delete --tls-verify=false "docker://$H/sk/img@$D1"
req GET "/v2/sk/img/manifests/$D1" -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 MANIFEST_UNKNOWN
req GET /v2/sk/img/tags/list
assert_status 200
assert_json '.tags == ["multi"]' "v1 went with its manifest"
if timeout 900 skopeo inspect --tls-verify=false "docker://$H/sk/img:v1" >/dev/null 2>>"$SK_LOG"; then
	fail "skopeo inspect of a deleted image succeeded"
fi
ASSERTS=$((ASSERTS + 1))
# The copy in the other repository is untouched.
sk inspect --tls-verify=false "docker://$H/sk/deep/nested/copy:v1" >/dev/null

if dray_only "layouts written through skopeo"; then
	check_all_layouts "$WORK/data" >/dev/null
	assert_eq "$D2" "$(skopeo inspect --raw "oci:$WORK/data/sk/img:multi" | sha256sum | sed 's/^/sha256:/; s/ .*//')" \
		"skopeo reads the pushed index from dray's layout"
fi

dray_stop
pass
