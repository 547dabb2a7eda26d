#!/bin/bash
# mount-crash.sh - SIGKILL of the daemon in the middle of a `cp -r` into
# the mount (beyond mount-publish.sh's HTTP check): after the restart,
# which clears the dead mount by itself, HTTP serves nothing of the copy,
# every layout on disk is valid, no file under a digest name holds other
# content (in the mount or on disk), no staging is left inside a layout,
# and copying again completes the publish. A live repository with an
# index.json waiting for its content keeps its old tags across the kill.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage

# Every file of DIR/blobs/<alg>/ named like a digest hashes to its name.
blobs_true() {
	local dir=$1 f h
	for f in "$dir"/blobs/sha256/*; do
		h=${f##*/}
		[[ "$h" =~ ^[a-f0-9]{64}$ ]] || continue
		[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$h" ] || return 1
	done
	return 0
}

BIG=$WORK/tmp/big
DB=$("$MKIMAGE" "$BIG" v1 --layers 6 --layer-size 30000000 --seed 91)
SMALL=$WORK/tmp/small
DS=$("$MKIMAGE" "$SMALL" v1 --layers 1 --layer-size 5000 --seed 92)

dray_start_mount
push_layout live v1 "$SMALL"

# a live repository's index.json that waits for content never copied
jq --arg d "$DB" --argjson s "$(stat -c %s "$BIG/blobs/sha256/${DB#sha256:}")" \
	'.manifests += [{mediaType: "application/vnd.oci.image.manifest.v1+json",
	  digest: $d, size: $s,
	  annotations: {"org.opencontainers.image.ref.name": "v2"}}]' \
	"$SMALL/index.json" >"$WORK/tmp/pending.json"
assert_true "writing a waiting index.json failed" cp "$WORK/tmp/pending.json" "$MNT/live/index.json"
assert_eq "v1" "$(tags_of live)" "tags while v2 waits"

# kill once the copy is under way: some blob of it has reached the disk
(cp -r "$BIG" "$MNT/crash" 2>/dev/null || true) &
CP=$!
for ((i = 0; i < 3000; i++)); do
	[ -n "$(ls "$WORK/data/crash/blobs/sha256" 2>/dev/null)" ] && break
	kill -0 "$CP" 2>/dev/null || break # done already: noted below
	sleep 0.02
done
dray_kill9
wait "$CP" 2>/dev/null || true
assert_true "a SIGKILLed daemon leaves its mount" is_mounted
dray_restart_mount
assert_true "the restart did not clear the dead mount" test -d "$MNT/live"

t=$(tags_of crash)
if [ "$t" = v1 ]; then
	note "the copy finished before the kill"
else
	assert_eq "NONE:404" "$t" "half-copied repository over HTTP"
	req GET "/v2/crash/manifests/$DB" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 404
	# The admin reads why: the xattr says incomplete.
	st=$(getfattr --absolute-names --only-values -n user.dray.status "$MNT/crash")
	assert_true "status of the half copy after the restart: $st" \
		grep -qx 'state: incomplete (not served over HTTP)' <<<"$st"
fi
assert_eq "v1" "$(tags_of live)" "live repository after the kill"
assert_eq "$DS" "$(http_digest live v1)" "live v1 after the kill"
assert_true "a digest-named file in the mount holds other content" blobs_true "$MNT/crash"
assert_true "a digest-named file on disk holds other content" blobs_true "$WORK/data/crash"
# A copy stopped half way may hold index.json without oci-layout: that
# is what keeps it invisible. Every directory with oci-layout is whole.
while IFS= read -r d; do
	check_layout "$d"
done < <(find "$WORK/data" -path "$WORK/data/.dray" -prune -o \
	-name oci-layout -type f -printf '%h\n')
assert_eq "" "$(find "$WORK/data" -path "$WORK/data/.dray" -prune -o -type f \
	! -path '*/blobs/*' ! -name index.json ! -name oci-layout -print)" \
	"stray files in the storage tree"

# copying again completes it
assert_true "copying again after the kill failed" cp -r "$BIG/." "$MNT/crash/"
assert_eq "v1" "$(tags_of crash)" "tags once copied again"
assert_eq "$DB" "$(http_digest crash v1)" "digest once copied again"
pull_verify crash v1
check_layout "$WORK/data/crash"
dray_stop
pass
