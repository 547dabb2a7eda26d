#!/bin/bash
# layout-serve.sh - storage is plain OCI image layouts (DESIGN, invariant
# 2): layouts written by mkimage and by `skopeo copy ... oci:` placed under
# the root are served as they are, with no import (tags from ref.name
# annotations, untagged entries by digest, nested names, image indexes);
# pushing into such a layout keeps its other entries; a broken layout does
# not take the daemon down; and what dray writes is readable by
# `umoci ls --layout`, `umoci unpack` and `skopeo inspect/copy oci:`.
. "$(dirname "$0")/../lib.sh"
require_dray "reads and writes dray's storage directory"
need_mkimage

D=$WORK/data
D1=$("$MKIMAGE" "$D/ls/mk" v1 --layers 2 --layer-size 100000 --seed 11)
D2=$("$MKIMAGE" "$D/ls/mk" v2-index --index --layers 1 --layer-size 5000 --seed 12)
# An untagged entry: tag it, then drop the annotation.
DU=$("$MKIMAGE" "$D/ls/mk" untag-me --layers 1 --layer-size 777 --seed 13)
jq -c '.manifests |= map(if .annotations["org.opencontainers.image.ref.name"] == "untag-me"
	then del(.annotations) else . end)' "$D/ls/mk/index.json" >"$WORK/tmp/idx"
mv "$WORK/tmp/idx" "$D/ls/mk/index.json"
DN=$("$MKIMAGE" "$D/ls/nested/deep/img" latest --layers 1 --layer-size 3000 --seed 14)
"$MKIMAGE" "$WORK/tmp/src" v1 --layers 3 --layer-size 20000 --seed 15 >/dev/null
# Without --preserve-digests skopeo gzips the layers: a different layout.
skopeo copy --quiet "oci:$WORK/tmp/src:v1" "oci:$D/ls/sk:copied"
DS=$(jq -r '.manifests[0].digest' "$D/ls/sk/index.json")
# A broken layout next to the good ones.
mkdir -p "$D/ls/broken/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' >"$D/ls/broken/oci-layout"
printf '{garbage' >"$D/ls/broken/index.json"
for l in ls/mk ls/nested/deep/img ls/sk; do
	check_layout "$D/$l"
done

dray_start

# serve_layout REPO LAYOUT-DIR: every tag and every blob reachable from
# index.json is served with the right bytes, digest and media type.
serve_layout() {
	local repo=$1 dir=$2 entry dg mt tag f
	req GET "/v2/$repo/tags/list"
	assert_status 200
	assert_json ".tags == $(layout_tags "$dir" | jq -Rsc 'split("\n") | map(select(length > 0))')" \
		"tags of $repo are the layout's ref.name annotations"
	while IFS= read -r entry; do
		dg=$(jq -r .digest <<<"$entry")
		mt=$(jq -r .mediaType <<<"$entry")
		tag=$(jq -r '.annotations["org.opencontainers.image.ref.name"] // empty' <<<"$entry")
		f=$dir/blobs/${dg%%:*}/${dg#*:}
		for ref in $tag "$dg"; do
			req GET "/v2/$repo/manifests/$ref" -H "Accept: $ACCEPT_MANIFESTS"
			assert_status 200
			assert_body_file "$f"
			assert_content_type "$mt"
			assert_header Docker-Content-Digest "$dg"
		done
	done < <(jq -c '.manifests[]' "$dir/index.json")
	# Every blob the layout holds that a manifest references.
	while IFS= read -r dg; do
		f=$dir/blobs/${dg%%:*}/${dg#*:}
		req GET "/v2/$repo/blobs/$dg"
		assert_status 200
		assert_body_file "$f"
		req HEAD "/v2/$repo/blobs/$dg"
		assert_status 200
		assert_content_length "$(filesize "$f")"
	done < <(for m in "$dir"/blobs/sha256/*; do
		jq -r '(.config.digest // empty), (.layers[]?.digest), (.manifests[]?.digest)' "$m" 2>/dev/null || true
	done | sort -u)
}

serve_layout ls/mk "$D/ls/mk"
serve_layout ls/nested/deep/img "$D/ls/nested/deep/img"
serve_layout ls/sk "$D/ls/sk"
req GET /v2/ls/mk/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_header Docker-Content-Digest "$D1"
req GET /v2/ls/mk/manifests/v2-index -H "Accept: $ACCEPT_MANIFESTS"
assert_header Docker-Content-Digest "$D2"
assert_content_type "$MT_OCI_INDEX"
req GET "/v2/ls/mk/manifests/$DU" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
req GET /v2/ls/sk/manifests/copied -H "Accept: $ACCEPT_MANIFESTS"
assert_header Docker-Content-Digest "$DS"
req GET /v2/ls/nested/deep/img/manifests/latest -H "Accept: $ACCEPT_MANIFESTS"
assert_header Docker-Content-Digest "$DN"
req GET /v2/_catalog
assert_status 200
assert_json '[.repositories[] | select(startswith("ls/"))] - ["ls/broken"] == ["ls/mk", "ls/nested/deep/img", "ls/sk"]' \
	"the placed layouts are listed"
# The broken layout did not take the daemon down; asking for it fails
# cleanly: it is the server's problem (5xx) or treated as absent (404),
# not the client's (400), and any error code is one of the spec's.
req GET /v2/ls/broken/tags/list
assert_status 404 500 503
if [ "$STATUS" = 404 ]; then
	assert_json_error_code NAME_UNKNOWN
fi
assert_alive "with a broken layout under the root"
rm -rf "$D/ls/broken"

# --- pushing into a placed layout keeps its other entries
"$MKIMAGE" "$WORK/tmp/extra" extra --layers 1 --layer-size 4444 --seed 16 >/dev/null
EX=$WORK/tmp/extra
EXM=$(jq -r '.manifests[0].digest' "$EX/index.json")
for f in $(jq -r '.config.digest, .layers[].digest' "$EX/blobs/sha256/${EXM#sha256:}"); do
	push_blob ls/mk "$EX/blobs/sha256/${f#sha256:}"
done
push_manifest ls/mk extra "$EX/blobs/sha256/${EXM#sha256:}" "$MT_OCI_MANIFEST"
check_layout "$D/ls/mk"
assert_eq "$(printf 'extra\nv1\nv2-index')" "$(layout_tags "$D/ls/mk")" "tags in index.json after the push"
assert_eq 1 "$(jq --arg d "$DU" '[.manifests[] | select(.digest == $d)] | length' "$D/ls/mk/index.json")" \
	"the untagged entry survives a push"
umoci ls --layout "$D/ls/mk" | sort >"$WORK/tmp/umoci-tags"
assert_eq "$(printf 'extra\nv1\nv2-index')" "$(cat "$WORK/tmp/umoci-tags")" "umoci ls after the push"

# --- a repository dray creates is a layout others can read
"$MKIMAGE" "$WORK/tmp/img" v1 --layers 2 --layer-size 50000 --seed 17 >/dev/null
IM=$(jq -r '.manifests[0].digest' "$WORK/tmp/img/index.json")
IMF=$WORK/tmp/img/blobs/sha256/${IM#sha256:}
for f in $(jq -r '.config.digest, .layers[].digest' "$IMF"); do
	push_blob ls/pushed "$WORK/tmp/img/blobs/sha256/${f#sha256:}"
done
push_manifest ls/pushed v1 "$IMF" "$MT_OCI_MANIFEST"
push_manifest ls/pushed also "$IMF" "$MT_OCI_MANIFEST"
check_layout "$D/ls/pushed"

check_readable() {
	assert_eq "$(printf 'also\nv1')" "$(umoci ls --layout "$D/ls/pushed" | sort)" "umoci ls"
	assert_eq "$IM" "$(skopeo inspect "oci:$D/ls/pushed:v1" | jq -r .Digest)" "skopeo inspect digest"
	assert_true "skopeo inspect --raw is the pushed manifest" \
		cmp -s "$IMF" <(skopeo inspect --raw "oci:$D/ls/pushed:also")
	rm -rf "$WORK/tmp/b1" "$WORK/tmp/b2" "$WORK/tmp/rt"
	umoci unpack --rootless --image "$D/ls/pushed:v1" "$WORK/tmp/b1" >/dev/null 2>&1 ||
		fail "umoci unpack of the dray-written layout failed"
	umoci unpack --rootless --image "$WORK/tmp/img:v1" "$WORK/tmp/b2" >/dev/null 2>&1 ||
		fail "umoci unpack of the source layout failed"
	assert_true "unpacked root filesystems are identical" diff -r "$WORK/tmp/b1/rootfs" "$WORK/tmp/b2/rootfs"
	skopeo copy --quiet --preserve-digests "oci:$D/ls/pushed:v1" "oci:$WORK/tmp/rt:v1"
	assert_eq "$IM" "$(jq -r '.manifests[0].digest' "$WORK/tmp/rt/index.json")" \
		"skopeo copy out of the layout keeps the digest"
}
check_readable # while the daemon runs

# --- deleting a tag over HTTP shows in the layout
req DELETE /v2/ls/mk/manifests/v2-index
assert_status 202
assert_eq "$(printf 'extra\nv1')" "$(umoci ls --layout "$D/ls/mk" | sort)" "umoci ls after a tag delete"

# --- a layout placed while the daemon runs is served after a restart
"$MKIMAGE" "$WORK/tmp/late" late --layers 1 --layer-size 1234 --seed 18 >/dev/null
cp -r "$WORK/tmp/late" "$D/ls/late"
dray_stop
check_readable # after a clean stop
dray_start
serve_layout ls/late "$D/ls/late"
serve_layout ls/pushed "$D/ls/pushed"
serve_layout ls/mk "$D/ls/mk"
check_all_layouts "$D" >/dev/null
dray_stop
pass
