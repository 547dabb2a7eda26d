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


# ------------------------------------------------------ mount tool cases
# (the mount-tool-*.sh cases: a real layout published through the mount
# by a real tool, then checked through the mount and over HTTP)

# skopeo_ok ARGS...: run skopeo (no credentials, bounded in time), its
# output logged; fail the case on error.
skopeo_ok() {
	[ -n "${REGISTRY_AUTH_FILE:-}" ] || {
		export REGISTRY_AUTH_FILE=$WORK/cfg/auth.json
		printf '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
	}
	printf '+ skopeo %s\n' "$*" >>"$WORK/logs/skopeo.log"
	timeout 900 skopeo --command-timeout 850s "$@" \
		2>>"$WORK/logs/skopeo.log" ||
		fail "skopeo $* failed: $(tail -n 3 "$WORK/logs/skopeo.log")"
}

# skopeo_refused WHAT PATTERN ARGS...: skopeo ARGS must fail (WHAT names
# the attempt), saying something that matches PATTERN (grep -i).
skopeo_refused() {
	local what=$1 pat=$2 rc=0 err=$WORK/tmp/skopeo.err
	shift 2
	timeout 60 skopeo --command-timeout 50s "$@" >/dev/null 2>"$err" || rc=$?
	assert_ne 0 "$rc" "$what"
	assert_true "skopeo's refusal: $(tail -n 2 "$err")" grep -qi "$pat" "$err"
}

# mount_tool_check REPO SRC TAG [TAG...]: layout SRC was copied into
# $MNT/REPO by a tool. Through the mount: SRC's blobs, each hashing to
# its name and showing the stored file's inode; du of the repository
# equal to the storage's; df not zero. Over HTTP: every TAG has SRC's
# manifest digest and its blobs; skopeo inspects the first TAG and pulls
# it whole into an OCI directory, byte for byte SRC's.
mount_tool_check() {
	local repo=$1 src=$2 tag=$3 f h d size avail out=$WORK/tmp/pull.$RANDOM
	shift 2
	assert_eq "$(blob_names "$src")" "$(blob_names "$MNT/$repo")" \
		"$repo: blob files in the mount"
	for f in "$MNT/$repo"/blobs/sha256/*; do
		h=${f##*/}
		assert_eq "$h" "$(sha256sum <"$f" | cut -d' ' -f1)" \
			"$repo: blob $h read through the mount"
		assert_eq "$(inode_of "$WORK/data/$repo/blobs/sha256/$h")" \
			"$(inode_of "$f")" "$repo: inode of blob $h in the mount"
	done
	assert_eq "$(du -sk "$WORK/data/$repo" | cut -f1)" \
		"$(du -sk "$MNT/$repo" | cut -f1)" "$repo: du -sk, storage and mount"
	assert_eq "$(du -sb "$WORK/data/$repo" | cut -f1)" \
		"$(du -sb "$MNT/$repo" | cut -f1)" "$repo: du -sb, storage and mount"
	read -r size avail < <(df -k --output=size,avail "$MNT" | tail -n 1)
	assert_true "$repo: df of the mount shows no size ($size) or room ($avail)" \
		test "$size" -gt 0 -a "$avail" -gt 0
	for tag; do
		d=$(layout_manifest_digest "$src" "$tag")
		assert_eq "$d" "$(http_digest "$repo" "$tag")" "$repo:$tag over HTTP"
		pull_verify "$repo" "$tag"
	done
	tag=$1
	d=$(layout_manifest_digest "$src" "$tag")
	skopeo_ok inspect --tls-verify=false --raw \
		"docker://127.0.0.1:$PORT/$repo:$tag" >"$WORK/tmp/raw.json"
	assert_eq "$d" "$(digest_of "$WORK/tmp/raw.json")" \
		"$repo:$tag skopeo inspect --raw"
	skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
		"docker://127.0.0.1:$PORT/$repo:$tag" "oci:$out:$tag"
	assert_eq "$d" "$(layout_manifest_digest "$out" "$tag")" \
		"$repo:$tag pulled by skopeo"
	for f in "$out"/blobs/sha256/*; do
		assert_true "$repo:$tag: pulled blob ${f##*/} differs" \
			cmp -s "$f" "$src/blobs/sha256/${f##*/}"
	done
	rm -rf "$out"
}

# status_of PATH: the user.dray.status attribute of PATH in the mount, or
# NONE.
status_of() {
	getfattr --only-values -n user.dray.status "$1" 2>/dev/null || echo NONE
}

# podman_init: PM is podman with its storage in the case's work dir (vfs:
# nothing else needed as root) and its run root in a short directory of
# its own under /tmp (podman refuses a run root over 50 characters, which
# a work dir under a long TMPDIR makes), removed when the case ends.
# pm ARGS... runs it, logs to logs/podman.log and fails the case on error.
podman_init() {
	local run
	run=$(mktemp -d /tmp/drpm.XXXXXX)
	TMP_DIRS+=("$run")
	PM=(podman --root "$WORK/tmp/podman" --runroot "$run"
		--storage-driver vfs)
}

pm() {
	printf '+ podman %s\n' "$*" >>"$WORK/logs/podman.log"
	timeout 900 "${PM[@]}" "$@" >>"$WORK/logs/podman.log" 2>&1 ||
		fail "podman $* failed: $(tail -n 3 "$WORK/logs/podman.log")"
}
