# SPDX-License-Identifier: Apache-2.0
# lib/mount.sh - the FUSE mount: starting with it, waiting for it, unmounting.
# Sourced by lib.sh; not run on its own.
# (added for the mount-*.sh cases: the storage tree mounted with FUSE by
# the daemon itself)

MNT=$WORK/mnt

# need_fuse: skip (77) only where FUSE genuinely cannot work: no
# /dev/fuse character device or no fusermount3. CI has both, so the mount
# cases run there.
need_fuse() {
	if [ ! -c /dev/fuse ]; then
		log "SKIP $CASE_NAME: no /dev/fuse"
		exit 77
	fi
	command -v fusermount3 >/dev/null ||
		fail "/dev/fuse exists but fusermount3 is missing"
}

is_mounted() {
	awk -v m="$MNT" '$2 == m && $3 ~ /^fuse/ { f = 1 } END { exit !f }' \
		/proc/mounts
}

wait_mounted() {
	local i
	for ((i = 0; i < 600; i++)); do
		is_mounted && return 0
		daemon_alive || fail "daemon exited before mounting $MNT"
		sleep 0.1
	done
	fail "no fuse mount at $MNT after 60 s"
}

# Unmount $MNT by path if anything is mounted there (a dead mount left by
# a SIGKILL included); never by process name.
mount_clear() {
	is_mounted || return 0
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" \
		2>/dev/null || umount -l "$MNT" 2>/dev/null || true
}

# The EXIT handler of a mount case: stop the daemon (it unmounts), clear
# a mount it could not remove, then lib.sh's own handler, which removes
# the work dir (it must not walk into a mount).
mount_on_exit() {
	local rc=$?
	set +e
	if [ -n "$DRAY_PID" ]; then
		stop_pid "$DRAY_PID"
		DRAY_PID=
	fi
	mount_clear
	(exit "$rc")
	on_exit
}

# dray_start_mount [STORAGE_LINE...] [-- TOP_LEVEL_YAML]: the daemon with
# fuse.mountpoint $MNT (plus any extra config, as dray_start_cfg takes),
# started and mounted; sets DRAY_PID, PORT, URL.
dray_start_mount() {
	local top="fuse:
  mountpoint: $MNT" args=()
	trap mount_on_exit EXIT
	while [ $# -gt 0 ]; do
		if [ "$1" = -- ]; then
			top="$top
$2"
			break
		fi
		args+=("$1")
		shift
	done
	dray_config_ext "$CFG" "${args[@]}" -- "$top"
	dray_start
	wait_mounted
}

# dray_restart_mount: start again on the same config (after a stop or a
# SIGKILL, whose dead mount the daemon must clear itself).
dray_restart_mount() {
	dray_start
	wait_mounted
}

# http_catalog: the repositories HTTP lists, one line, space-separated.
http_catalog() {
	req GET "/v2/_catalog?n=1000"
	assert_status 200
	bjq -r '.repositories // [] | join(" ")'
}

# http_digest REPO REF: the Docker-Content-Digest of manifest REF, or
# "404" (or the status) when there is none.
http_digest() {
	req HEAD "/v2/$1/manifests/$2" -H "Accept: $ACCEPT_MANIFESTS"
	if [ "$STATUS" = 200 ]; then
		hdr Docker-Content-Digest
	else
		printf '%s' "$STATUS"
	fi
}

# blob_names DIR: the blob file names (alg/hex) of layout DIR, sorted.
blob_names() {
	(cd "$1/blobs" && find . -type f -printf '%P\n' | sort)
}

