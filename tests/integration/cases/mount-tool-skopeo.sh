#!/bin/bash
# mount-tool-skopeo.sh - skopeo copy from the registry straight into the
# mount (`oci:<mnt>/REPO:TAG`): skopeo makes the layout, writes each blob
# to a temporary in blobs/sha256 and renames it to its digest, then
# index.json. A second tag copied into the same, published, repository
# rewrites its index.json. Both exit 0 and mount_tool_check checks the
# mount (blobs hash to their names, stored inodes, du, df) and HTTP
# (skopeo inspect and a full pull).
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage

IMG=$WORK/tmp/img
for t in 1 2; do
	"$MKIMAGE" "$IMG" "v$t" --layers $((4 - t)) --layer-size 150000 \
		--seed $((70 + t)) >/dev/null
done
dray_start_mount
push_layout src/app v1 "$IMG"
push_layout src/app v2 "$IMG"

# --- a new repository, made by skopeo in the mount (which, as anywhere,
# wants the parent directory to exist)
assert_true "mkdir failed" mkdir "$MNT/sk"
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
	"docker://127.0.0.1:$PORT/src/app:v1" "oci:$MNT/sk/app:v1"
assert_eq "$(layout_manifest_digest "$IMG" v1)" "$(http_digest sk/app v1)" \
	"v1 over HTTP right after skopeo"

# --- a second tag into the published repository
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
	"docker://127.0.0.1:$PORT/src/app:v2" "oci:$MNT/sk/app:v2"
# What skopeo wrote is what a copy of the source layout holds: the same
# blobs, and index.json naming both tags.
mount_tool_check sk/app "$IMG" v1 v2
assert_eq "v1 v2" "$(layout_tags "$MNT/sk/app" | sort | tr '\n' ' ' | sed 's/ $//')" \
	"tags in the mounted index.json"
assert_eq "$(inode_of "$(repo_blob_file src/app "$(layout_manifest_digest "$IMG" v1)")")" \
	"$(inode_of "$WORK/data/sk/app/blobs/sha256/$(layout_manifest_digest "$IMG" v1 | cut -d: -f2)")" \
	"the manifest skopeo wrote is the pushed one's stored file"
assert_eq "sk/app src/app" \
	"$(check_all_layouts "$WORK/data" | tr '\n' ' ' | sed 's/ $//')" "layouts on disk"
dray_stop
pass
