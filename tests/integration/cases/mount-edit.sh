#!/bin/bash
# mount-edit.sh - changing a live repository through the mount the way
# editors and tools do: `jq ... > tmp && mv tmp index.json` changes the
# tags over HTTP the moment mv returns; an edit that does not parse fails
# and the old index.json stays; index.json rewritten in place (truncate and
# write) is judged at close; a blob written under a temporary name and
# renamed to its digest is verified at the rename (a wrong one fails and
# leaves nothing); skopeo writing an `oci:` layout straight into the mount
# publishes it.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage

mounted_tags() { # REPO: the tags in the mounted index.json
	layout_tags "$MNT/$1" | tr '\n' ' ' | sed 's/ $//'
}

"$MKIMAGE" "$WORK/tmp/img" v1 --layers 2 --layer-size 100000 --seed 51 >/dev/null
"$MKIMAGE" "$WORK/tmp/img" v2 --layers 2 --layer-size 100000 --seed 52 >/dev/null
D1=$(layout_manifest_digest "$WORK/tmp/img" v1)
D2=$(layout_manifest_digest "$WORK/tmp/img" v2)

dray_start_mount
push_layout team/app v1 "$WORK/tmp/img"
push_layout team/app v2 "$WORK/tmp/img"
R=$MNT/team/app
assert_eq "v1 v2" "$(tags_of team/app)" "tags after the pushes"

# --- jq > tmp && mv tmp index.json: committed at the rename
jq '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] != "v2"))' \
	"$R/index.json" >"$R/index.json.tmp"
assert_eq "v1 v2" "$(tags_of team/app)" "tags while the edit sits in a temporary file"
assert_true "mv tmp index.json failed" mv "$R/index.json.tmp" "$R/index.json"
assert_eq "v1" "$(tags_of team/app)" "tags right after the mv"
assert_eq "v1" "$(mounted_tags team/app)" "mounted index.json after the mv"
assert_eq "404" "$(http_digest team/app v2)" "v2 after it was edited out"
assert_true "the temporary name is left in the mount" test ! -e "$R/index.json.tmp"

# an editor's swap-file dance: write .index.json.swp, rename over
jq --arg d "$D2" --argjson s "$(stat -c %s "$WORK/tmp/img/blobs/sha256/${D2#sha256:}")" \
	'.manifests += [{mediaType: "application/vnd.oci.image.manifest.v1+json",
	  digest: $d, size: $s,
	  annotations: {"org.opencontainers.image.ref.name": "again"}}]' \
	"$R/index.json" >"$R/.index.json.swp"
assert_true "mv .swp index.json failed" mv "$R/.index.json.swp" "$R/index.json"
assert_eq "again v1" "$(tags_of team/app)" "tags after the second edit"
assert_eq "$D2" "$(http_digest team/app again)" "the re-added tag"

# an edit that does not parse: refused, nothing changes
cp "$R/index.json" "$WORK/tmp/before.json"
printf '{"schemaVersion": 2, "manifests": [' >"$WORK/tmp/broken.json"
rc=0
{ cp "$WORK/tmp/broken.json" "$R/index.json.tmp" &&
	mv "$R/index.json.tmp" "$R/index.json"; } 2>"$WORK/tmp/edit.err" || rc=$?
assert_ne 0 "$rc" "a broken index.json was accepted"
assert_true "the old index.json is gone" cmp -s "$WORK/tmp/before.json" "$R/index.json"
assert_eq "again v1" "$(tags_of team/app)" "tags after a refused edit"
rm -f "$R/index.json.tmp" 2>/dev/null || true

# a digest that is not even well formed: refused too
jq '.manifests[0].digest = "sha256:nothex"' "$R/index.json" >"$WORK/tmp/bad.json"
assert_true "an index.json with a malformed digest was accepted" \
	bash -c "! cp '$WORK/tmp/bad.json' '$R/index.json' 2>/dev/null"
assert_eq "again v1" "$(tags_of team/app)" "tags after a refused malformed digest"

# --- index.json rewritten in place (truncate, write, close)
jq '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] != "again"))' \
	"$WORK/tmp/before.json" >"$WORK/tmp/edited.json"
assert_true "in-place rewrite of index.json failed" cp "$WORK/tmp/edited.json" "$R/index.json"
assert_eq "v1" "$(tags_of team/app)" "tags after an in-place rewrite"
assert_true "in-place rewrite refused" cmp -s "$WORK/tmp/edited.json" "$R/index.json"
assert_true "refused in-place write of a broken index.json succeeded" \
	bash -c "! cp '$WORK/tmp/broken.json' '$R/index.json' 2>/dev/null"
assert_true "a refused in-place write changed index.json" \
	cmp -s "$WORK/tmp/edited.json" "$R/index.json"
assert_eq "v1" "$(tags_of team/app)" "tags after a refused in-place write"

# --- a blob under a temporary name, renamed to its digest
mkblob "$WORK/tmp/extra" 70000 53
X=$(digest_of "$WORK/tmp/extra")
assert_true "writing a temporary blob file failed" \
	cp "$WORK/tmp/extra" "$R/blobs/sha256/.tmp-extra"
assert_true "renaming a blob to its digest failed" \
	mv "$R/blobs/sha256/.tmp-extra" "$R/blobs/sha256/${X#sha256:}"
req GET "/v2/team/app/blobs/$X"
assert_status 200
assert_body_digest "$X"
# the same from the layout's top directory (skopeo's oci-put-blob files)
mkblob "$WORK/tmp/extra2" 3000 54
X2=$(digest_of "$WORK/tmp/extra2")
cp "$WORK/tmp/extra2" "$R/oci-put-blob123"
assert_true "renaming a top-level temporary into blobs/ failed" \
	mv "$R/oci-put-blob123" "$R/blobs/sha256/${X2#sha256:}"
req GET "/v2/team/app/blobs/$X2"
assert_status 200
# a wrong content renamed to a digest fails at the rename, leaves nothing
cp "$WORK/tmp/extra" "$R/blobs/sha256/.tmp-wrong"
WRONG=$(printf 'wrong' | sha256sum | cut -d' ' -f1)
assert_true "renaming wrong content to a digest succeeded" \
	bash -c "! mv '$R/blobs/sha256/.tmp-wrong' '$R/blobs/sha256/$WRONG' 2>/dev/null"
assert_true "the refused blob shows in the mount" test ! -e "$R/blobs/sha256/$WRONG"
assert_true "the refused blob is on disk" test ! -e "$WORK/data/team/app/blobs/sha256/$WRONG"
req GET "/v2/team/app/blobs/sha256:$WRONG"
assert_status 404
rm -f "$R/blobs/sha256/.tmp-wrong" 2>/dev/null || true
check_layout "$WORK/data/team/app"

# --- skopeo writes an oci: layout straight into the mount
export REGISTRY_AUTH_FILE=$WORK/cfg/auth.json
printf '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
mkdir -p "$MNT/sk"
rc=0
timeout 900 skopeo --command-timeout 850s copy --quiet --preserve-digests \
	"oci:$WORK/tmp/img:v2" "oci:$MNT/sk/copy:v2" 2>"$WORK/logs/skopeo.log" || rc=$?
assert_eq 0 "$rc" "skopeo copy into the mount: $(tail -n 3 "$WORK/logs/skopeo.log")"
assert_eq "$D2" "$(http_digest sk/copy v2)" "skopeo's layout over HTTP"
pull_verify sk/copy v2
check_layout "$WORK/data/sk/copy"

dray_stop
pass
