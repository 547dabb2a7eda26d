#!/bin/bash
# mount-sigterm.sh - SIGTERM never leaves a stale mount: with an rsync
# and a cp -r writing into the mount (caught at several points of the
# copy), dray exits 0 (nothing leaked) and the mountpoint is a plain
# directory again, not a FUSE mount and not ENOTCONN; the next start
# mounts and serves.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage
need_rsync

"$MKIMAGE" "$WORK/tmp/big" v1 --layers 6 --layer-size 20000000 --seed 71 >/dev/null

dray_start_mount

# staged_bytes: bytes the mount has staged so far (uploads in progress).
staged_bytes() {
	du -sb "$WORK/data/.dray/uploads" 2>/dev/null | cut -f1
}

for at in 1 20000000 60000000; do
	base=$(staged_bytes)
	rsync -a "$WORK/tmp/big/" "$MNT/rs$at/" 2>/dev/null &
	RS=$!
	cp -r "$WORK/tmp/big" "$MNT/cp$at" 2>/dev/null &
	CP=$!
	# Until the copies have staged $at bytes more (or ended).
	while [ "$(($(staged_bytes) - base))" -lt "$at" ]; do
		kill -0 "$RS" 2>/dev/null || kill -0 "$CP" 2>/dev/null || break
		sleep 0.05
	done
	note "SIGTERM with $(($(staged_bytes) - base)) bytes staged"
	dray_stop
	wait "$RS" 2>/dev/null || true
	wait "$CP" 2>/dev/null || true
	! is_mounted || fail "still a FUSE mount after SIGTERM (at $at bytes)"
	assert_true "the mountpoint is not a plain directory after SIGTERM (at $at bytes)" \
		stat "$MNT/."
	# What the copies wrote by path after the unmount went to the plain
	# directory: cleared before the next mount.
	rm -rf "${MNT:?}"/* "$MNT"/.[!.]*
	dray_restart_mount
	assert_eq 200 "$(req GET /v2/ && echo "$STATUS")" "GET /v2/ after the restart"
done
dray_stop
pass
