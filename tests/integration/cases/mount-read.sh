#!/bin/bash
# mount-read.sh - the storage tree mounted with FUSE by the daemon itself:
# it shows exactly the layouts (nothing of .dray), agrees byte for byte
# with HTTP and with the files on disk, shows HTTP pushes and deletes at
# once, refuses writes of anything that is not a layout file, keeps a
# reader's open blob readable across a delete, unmounts on SIGTERM, and
# clears the stale mount a SIGKILL leaves.
. "$(dirname "$0")/../lib.sh"
require_dray
need_fuse

dray_start_mount

"$MKIMAGE" "$WORK/tmp/img" v1 --layers 3 --layer-size 300000 --seed 11 >/dev/null
push_layout team/app v1 "$WORK/tmp/img"
M1=$MANIFEST_DIGEST

# --- the view: layouts only
assert_eq "team" "$(ls "$MNT")" "top of the mount"
assert_eq "" "$(ls -A "$MNT" | grep '^\.' || true)" "dot entries in the mount"
assert_true ".dray must not be reachable" bash -c "! stat '$MNT/.dray' 2>/dev/null"
assert_eq "blobs index.json oci-layout" "$(ls "$MNT/team/app" | tr '\n' ' ' | sed 's/ $//')" \
	"layout entries"
assert_true "index.json differs from disk" cmp -s "$MNT/team/app/index.json" \
	"$WORK/data/team/app/index.json"
assert_eq "v1" "$(jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"]' \
	"$MNT/team/app/index.json")" "tag through the mount"

# --- blobs: content hashes to the name, equals HTTP, real link counts
n=0
for f in "$MNT"/team/app/blobs/sha256/*; do
	h=${f##*/}
	assert_eq "$h" "$(sha256sum <"$f" | cut -d' ' -f1)" "blob $h through the mount"
	req GET "/v2/team/app/blobs/sha256:$h"
	assert_status 200
	assert_true "blob $h differs from HTTP" cmp -s "$RESP/body" "$f"
	assert_eq "$(stat -c %h "$WORK/data/team/app/blobs/sha256/$h")" \
		"$(stat -c %h "$f")" "link count of $h"
	n=$((n + 1))
done
assert_eq 5 "$n" "blob files (manifest, config, 3 layers)"
assert_true "umoci cannot read the layout in the mount" \
	umoci ls --layout "$MNT/team/app"

# --- everyday tools: tar on a gzip layer, du, find, ls -lR
mkdir -p "$WORK/tmp/rootfs/etc"
echo "dray" >"$WORK/tmp/rootfs/etc/hostname"
tar -C "$WORK/tmp/rootfs" -czf "$WORK/tmp/layer.tgz" etc
mkconfig "$WORK/tmp/cfg.json" "$WORK/tmp/layer.tgz"
push_blob tools "$WORK/tmp/layer.tgz"
LG=$BLOB_DIGEST
push_blob tools "$WORK/tmp/cfg.json"
mkmanifest "$WORK/tmp/tools.json" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/cfg.json")" \
	"$(desc "$MT_OCI_LAYER_GZ" "$WORK/tmp/layer.tgz")"
push_manifest tools v1 "$WORK/tmp/tools.json" "$MT_OCI_MANIFEST"
assert_eq "etc/ etc/hostname" "$(tar -tzf "$MNT/tools/blobs/sha256/${LG#sha256:}" | tr '\n' ' ' | sed 's/ $//')" \
	"tar -tzf of a layer through the mount"
assert_eq "$(du -sb "$WORK/data/tools" | cut -f1)" "$(du -sb "$MNT/tools" | cut -f1)" \
	"du -sb through the mount and on disk"
assert_eq "$(cd "$WORK/data" && find team tools -type f | sort)" "$(cd "$MNT" && find team tools -type f | sort)" \
	"find through the mount and on disk"
assert_true "ls -lR of the mount failed" bash -c "ls -lR '$MNT' >/dev/null"

# --- HTTP changes show at once
"$MKIMAGE" "$WORK/tmp/img2" v2 --layers 1 --layer-size 1000 --seed 12 >/dev/null
push_layout team/app v2 "$WORK/tmp/img2"
M2=$MANIFEST_DIGEST
assert_eq "v1 v2" "$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | sort | join(" ")' \
	"$MNT/team/app/index.json")" "tags after a push"
push_layout other v2 "$WORK/tmp/img2"
assert_eq "other team tools" "$(ls "$MNT" | tr '\n' ' ' | sed 's/ $//')" "new repository"
assert_true "a shared blob shows 3 links" \
	test "$(stat -c %h "$MNT/other/blobs/sha256/${M2#sha256:}")" -ge 3

# --- only layout files reach the layouts
assert_true "touch must fail" bash -c "! touch '$MNT/x' 2>/dev/null"
# another name is a temporary: shown in the mount, nowhere in the layout
assert_true "cp of a temporary failed" cp "$WORK/tmp/img/oci-layout" "$MNT/team/app/x"
assert_true "the temporary is not shown" test -f "$MNT/team/app/x"
assert_true "the temporary reached the layout" test ! -e "$WORK/data/team/app/x"
assert_true "rm of the temporary failed" rm "$MNT/team/app/x"
assert_true "rm must fail" bash -c "! rm -f '$MNT/team/app/index.json' 2>/dev/null"
assert_true "the layout must be untouched" test -f "$WORK/data/team/app/index.json"

# --- a reader keeps its blob across a delete; the view drops it at once
L=$(jq -r '.layers[0].digest' "$WORK/tmp/img2/blobs/sha256/${M2#sha256:}")
exec 3<"$MNT/other/blobs/sha256/${L#sha256:}"
req DELETE "/v2/other/manifests/$M2"
assert_status 202
req DELETE "/v2/other/blobs/$L"
assert_status 202
assert_true "deleted blob still listed" \
	bash -c "! ls '$MNT/other/blobs/sha256' | grep -q '${L#sha256:}'"
assert_eq "${L#sha256:}" "$(sha256sum <&3 | cut -d' ' -f1)" "open reader after the delete"
exec 3<&-
assert_eq "[]" "$(jq -c '.manifests' "$MNT/other/index.json")" "index.json after the delete"

# --- SIGTERM unmounts
dray_stop
assert_true "mount left after SIGTERM" bash -c "! grep -q ' $MNT fuse' /proc/mounts"

# --- a SIGKILL leaves a dead mount; the next start clears it
dray_start
wait_mounted
dray_kill9
assert_true "a killed daemon leaves its mount" is_mounted
assert_true "the dead mount answers ENOTCONN" \
	bash -c "ls '$MNT' 2>&1 | grep -q 'not connected'"
dray_start
wait_mounted
assert_eq "other team tools" "$(ls "$MNT" | tr '\n' ' ' | sed 's/ $//')" "after the restart"
pull_verify team/app v1
dray_stop
assert_true "mount left after SIGTERM" bash -c "! grep -q ' $MNT fuse' /proc/mounts"
pass
