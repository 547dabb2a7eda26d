#!/bin/bash
# mount-tool-copy.sh - the tools an admin copies a layout with, each
# publishing a real layout (two tags) through the mount: cp -a, a tar
# pipe, mv from another file system (tmpfs when there is one) and
# python3's shutil.copytree (which sets oci-layout's times after closing
# it, before the layout is complete). Each exits 0; mount_tool_check then
# checks the mount (blobs hash to their names, stored inodes, du, df) and
# HTTP (skopeo inspect and a full pull). The last three copy content the
# store already held before a restart: each store copy is hashed once to
# check it, not once per repository copied (that hashing made a copy of
# stored content take twice as long).
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage

IMG=$WORK/tmp/img
"$MKIMAGE" "$IMG" v1 --layers 3 --layer-size 200000 --seed 61 >/dev/null
"$MKIMAGE" "$IMG" v2 --layers 2 --layer-size 70000 --seed 62 >/dev/null
NBLOBS=$(blob_names "$IMG" | wc -l)

dray_start_mount
mkdir "$MNT/tools"

# --- cp -a: modes and times kept (setattr after each file)
assert_true "cp -a into the mount failed" cp -a "$IMG" "$MNT/tools/cpa"
mount_tool_check tools/cpa "$IMG" v1 v2

# The rest copy content the store holds, with nothing verified yet.
dray_stop
dray_restart_mount
mark=$(log_mark)

# --- a tar pipe into a directory made first
assert_true "mkdir failed" mkdir "$MNT/tools/tar"
assert_true "tar pipe into the mount failed" \
	bash -c "tar -C '$IMG' -cf - . | tar -C '$MNT/tools/tar' -xf -"
mount_tool_check tools/tar "$IMG" v1 v2
verified() { tail -n +"$((mark + 1))" "$DAEMON_LOG" | grep -c "content store copy .* verified" || true; }
assert_eq "$NBLOBS" "$(verified)" "store copies hashed for the first copy of stored content"

# --- mv from another file system: copied, then the source removed
SHM=$WORK/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	SHM=$(mktemp -d /dev/shm/dray-mv.XXXXXX)
	trap 'rm -rf "$SHM"; mount_on_exit' EXIT
fi
cp -a "$IMG" "$SHM/img"
assert_true "mv into the mount failed" mv "$SHM/img" "$MNT/tools/mv"
assert_true "mv left its source" test ! -e "$SHM/img"
mount_tool_check tools/mv "$IMG" v1 v2

# --- python3 shutil.copytree (copy2: data, then utime/chmod of each file)
assert_true "shutil.copytree into the mount failed" python3 -c \
	'import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2])' \
	"$IMG" "$MNT/tools/py"
mount_tool_check tools/py "$IMG" v1 v2
assert_true "oci-layout in the mount is not the copy's" \
	cmp -s "$IMG/oci-layout" "$MNT/tools/py/oci-layout"

assert_eq "$NBLOBS" "$(verified)" "store copies hashed after three copies of stored content"
assert_eq "tools/cpa tools/mv tools/py tools/tar" \
	"$(check_all_layouts "$WORK/data" | tr '\n' ' ' | sed 's/ $//')" "layouts on disk"
dray_stop
pass
