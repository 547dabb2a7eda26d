#!/bin/bash
# mount-order.sh - a layout's files may reach the mount in any order and
# any number of times: `cp -r` of a layout whose oci-layout, index.json
# and blobs/ come in each of the six orders succeeds (exit 0; cp creates
# each file with O_EXCL in a directory it made, so dray's own oci-layout,
# written when the copy completes, must not be in its way), HTTP serves
# the image, the mount shows every file, and copying the same layout over
# it again succeeds too.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage

"$MKIMAGE" "$WORK/tmp/img" v1 --layers 2 --layer-size 100000 --seed 91 >/dev/null
D=$(layout_manifest_digest "$WORK/tmp/img" v1)

# mklayout DIR A B C: a copy of the image whose entries (L oci-layout,
# I index.json, B blobs/) have rising inode numbers in that order: cp -r
# copies a directory's entries by inode number (gnulib's savedir). The
# copies are made on tmpfs (/dev/shm), which numbers inodes in the order
# they are made; ext4 reuses freed numbers, so there the order depends on
# what the rest of the machine deletes meanwhile.
mklayout() {
	local dir=$1 e try got want
	shift
	want=$(printf '%s ' "$@")
	for ((try = 0; try < 20; try++)); do
		rm -rf "$dir"
		mkdir -p "$dir"
		for e in "$@"; do
			case $e in
			L) cp "$WORK/tmp/img/oci-layout" "$dir/" ;;
			I) cp "$WORK/tmp/img/index.json" "$dir/" ;;
			B) cp -r "$WORK/tmp/img/blobs" "$dir/" ;;
			esac
		done
		got=$(stat -c '%i %n' "$dir"/* | sort -n | sed 's,.*/,,' |
			sed 's/^oci-layout$/L/; s/^index.json$/I/; s/^blobs$/B/' | tr '\n' ' ')
		[ "$got" = "$want" ] && return 0
	done
	fail "could not lay out $dir in the order $want (got $got)"
}

dray_start_mount
LAY=$WORK/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	LAY=$(mktemp -d /dev/shm/dray-order.XXXXXX)
	trap 'rm -rf "$LAY"; mount_on_exit' EXIT
fi

for order in "L I B" "L B I" "I L B" "I B L" "B L I" "B I L"; do
	name=$(printf "o%s" "${order// /}" | tr "A-Z" "a-z")
	# shellcheck disable=SC2086
	mklayout "$LAY/$name" $order
	assert_true "cp -r of a layout in the order $order failed" \
		cp -r "$LAY/$name" "$MNT/$name"
	assert_eq "$D" "$(http_digest "$name" v1)" "digest over HTTP after the order $order"
	pull_verify "$name" v1
	assert_true "the mount shows no oci-layout after the order $order" \
		cmp "$WORK/tmp/img/oci-layout" "$MNT/$name/oci-layout"
	assert_true "the mounted index.json differs after the order $order" \
		cmp "$WORK/tmp/img/index.json" "$MNT/$name/index.json"
	for f in "$WORK"/tmp/img/blobs/sha256/*; do
		assert_true "blob ${f##*/} differs in the mount after the order $order" \
			cmp "$f" "$MNT/$name/blobs/sha256/${f##*/}"
	done
	# the same files again, over what is there
	assert_true "copying the layout again (order $order) failed" \
		cp -r "$LAY/$name/." "$MNT/$name/"
	assert_eq "$D" "$(http_digest "$name" v1)" "digest over HTTP after the second copy ($order)"
done
dray_stop
pass
