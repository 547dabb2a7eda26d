#!/bin/bash
# mount-concurrent.sh - both front ends busy at once: readers stream a
# large blob through the mount over and over while HTTP pushes new images;
# every push shows in the mount the moment it returns (index.json, new
# directories), every read hashes right, and neither side stalls the
# other. Then the other direction: a `cp -r` into the mount runs while
# HTTP clients pull, and the copied image is served the moment cp ends.
# Last, slow HTTP uploads beside mount traffic, and a file held open half
# written in the mount beside HTTP traffic.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage

N_PUSH=${N_PUSH:-12}
BIG=$WORK/tmp/big
DB=$("$MKIMAGE" "$BIG" v1 --layers 2 --layer-size 24000000 --seed 81)
LB=$(jq -r '.layers[0].digest' "$BIG/blobs/sha256/${DB#sha256:}")
for ((i = 0; i < N_PUSH; i++)); do
	"$MKIMAGE" "$WORK/tmp/s$i" "t$i" --layers 1 --layer-size 20000 --seed $((100 + i)) >/dev/null
done

dray_start_mount
push_layout big/img v1 "$BIG"
F=$MNT/big/img/blobs/sha256/${LB#sha256:}

# --- readers through the mount while HTTP pushes
reader() { # N OUT: hash the big layer N times through the mount
	local n=$1 out=$2 k h
	for ((k = 0; k < n; k++)); do
		h=$(sha256sum <"$F" | cut -d' ' -f1)
		[ "$h" = "${LB#sha256:}" ] || echo "read $k hashed to $h" >>"$out"
	done
	echo done >>"$out"
}
: >"$WORK/tmp/r1"
: >"$WORK/tmp/r2"
bg reader 8 "$WORK/tmp/r1"
bg reader 8 "$WORK/tmp/r2"
t0=$SECONDS
for ((i = 0; i < N_PUSH; i++)); do
	push_layout conc/app "t$i" "$WORK/tmp/s$i"
	# visible in the mount at once: the tag, and a new repository
	assert_true "t$i not in the mounted index.json right after the push" \
		grep -q "\"t$i\"" "$MNT/conc/app/index.json"
	push_layout "conc/r$i" "t$i" "$WORK/tmp/s$i"
	assert_true "conc/r$i not listed in the mount right after the push" \
		test -d "$MNT/conc/r$i"
	assert_eq "$MANIFEST_DIGEST" \
		"sha256:$(sha256sum <"$MNT/conc/r$i/blobs/sha256/${MANIFEST_DIGEST#sha256:}" | cut -d' ' -f1)" \
		"manifest of conc/r$i through the mount"
done
push_secs=$((SECONDS - t0))
for p in "${BG_PIDS[@]}"; do
	wait "$p" || true
done
BG_PIDS=()
assert_eq "done" "$(cat "$WORK/tmp/r1")" "reader 1"
assert_eq "done" "$(cat "$WORK/tmp/r2")" "reader 2"
assert_eq "$N_PUSH" "$(layout_tags "$MNT/conc/app" | wc -l | tr -d ' ')" "tags in the mount"
log "  $((2 * N_PUSH)) pushes in ${push_secs}s beside 16 reads of a 24 MB blob"

# --- a cp -r into the mount while HTTP clients pull
puller() { # N OUT: pull the big layer over HTTP N times
	local n=$1 out=$2 k h
	for ((k = 0; k < n; k++)); do
		h=$(curl -sS --max-time 60 "$URL/v2/big/img/blobs/$LB" | sha256sum | cut -d' ' -f1)
		[ "$h" = "${LB#sha256:}" ] || echo "pull $k hashed to $h" >>"$out"
	done
	echo done >>"$out"
}
: >"$WORK/tmp/p1"
bg puller 6 "$WORK/tmp/p1"
assert_true "cp -r into the mount beside HTTP pulls failed" cp -r "$BIG" "$MNT/copied"
assert_eq "$DB" "$(http_digest copied v1)" "copied image right after cp"
pull_verify copied v1
for p in "${BG_PIDS[@]}"; do
	wait "$p" || true
done
BG_PIDS=()
assert_eq "done" "$(cat "$WORK/tmp/p1")" "HTTP puller"
assert_eq "$(inode_of "$(repo_blob_file big/img "$LB")")" \
	"$(inode_of "$(repo_blob_file copied "$LB")")" "copied layer deduplicated"

# --- slow HTTP clients do not slow the mount, a stalled writer in the
# mount does not slow HTTP: 20 uploads trickle at 2 KB/s for 4 s while
# the mount is listed and read; a file held open half written in the
# mount while HTTP answers
head -c 8000 /dev/zero >"$WORK/tmp/trickle"
for ((i = 0; i < 20; i++)); do
	bg curl -s -o /dev/null --max-time 4 --limit-rate 2k -X POST -H 'Expect:' \
		-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/trickle" \
		"$URL/v2/slow/blobs/uploads/?digest=sha256:$(sha256sum <"$WORK/tmp/trickle" | cut -d' ' -f1)"
done
sleep 0.5
t0=$(date +%s%N)
ls -lR "$MNT" >/dev/null
sha256sum "$MNT/big/img/blobs/sha256/${LB#sha256:}" >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
log "  ls -lR and a 24 MB read through the mount beside 20 trickling uploads: ${ms} ms"
assert_true "the mount stalled beside slow HTTP clients (${ms} ms)" [ "$ms" -lt 3000 ]
exec 7>"$MNT/copied/blobs/sha256/$(printf '%064d' 0)"
printf 'half' >&7
t0=$(date +%s%N)
for ((i = 0; i < 20; i++)); do
	req GET "/v2/copied/manifests/v1" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 200
done
ms=$((($(date +%s%N) - t0) / 1000000))
# Done while the file is still open: HTTP did not wait for it (a stall
# would hang here until the case's timeout).
log "  20 manifest GETs beside a file held open in the mount: ${ms} ms"
exec 7>&- || true
for p in "${BG_PIDS[@]}"; do
	wait "$p" || true
done
BG_PIDS=()

check_all_layouts "$WORK/data" >/dev/null
dray_stop
pass
