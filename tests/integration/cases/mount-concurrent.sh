#!/bin/bash
# mount-concurrent.sh - both front ends busy at once: readers stream a
# large blob through the mount over and over while HTTP pushes new images;
# every push shows in the mount the moment it returns (index.json, new
# directories), every read hashes right, and neither side stalls the
# other: the pushes complete while the readers, which go on until told to
# stop, are still reading. Then the other direction: a `cp -r` into the
# mount runs while HTTP clients pull, and the copied image is served the
# moment cp ends. Last, 20 HTTP uploads stuck half way (their bodies come
# from a pipe the case holds) while the mount is listed and read, and a
# file held open half written in the mount while HTTP answers: each side
# completes while the other is still stuck. No step is timed.
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
STOP=$WORK/tmp/stop-readers
reader() { # OUT: hash the big layer through the mount until $STOP exists
	local out=$1 k h
	for ((k = 0; ; k++)); do
		h=$(sha256sum <"$F" | cut -d' ' -f1)
		[ "$h" = "${LB#sha256:}" ] || echo "read $k hashed to $h" >>"$out"
		[ -e "$STOP" ] && break
	done
	echo done >>"$out"
}
: >"$WORK/tmp/r1"
: >"$WORK/tmp/r2"
bg reader "$WORK/tmp/r1"
bg reader "$WORK/tmp/r2"
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
# The readers only stop when told: the pushes did not wait for them.
assert_eq "" "$(cat "$WORK/tmp/r1" "$WORK/tmp/r2")" "readers finished before being told to"
touch "$STOP"
for p in "${BG_PIDS[@]}"; do
	wait "$p" || true
done
BG_PIDS=()
assert_eq "done" "$(cat "$WORK/tmp/r1")" "reader 1"
assert_eq "done" "$(cat "$WORK/tmp/r2")" "reader 2"
assert_eq "$N_PUSH" "$(layout_tags "$MNT/conc/app" | wc -l | tr -d ' ')" "tags in the mount"
log "  $((2 * N_PUSH)) pushes in ${push_secs}s beside two readers of a 24 MB blob"

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

# --- uploads stuck half way do not stall the mount, a writer stuck in
# the mount does not stall HTTP
# established: the daemon's established TCP connections (/proc/net/tcp).
established() {
	awk -v p="$(printf ':%04X' "$PORT")" \
		'NR > 1 && substr($2, length($2) - 4) == p && $4 == "01"' /proc/net/tcp | wc -l
}
STUCK=$WORK/tmp/stuck.fifo
mkfifo "$STUCK"
head -c 8000 /dev/zero >"$WORK/tmp/trickle"
TRICKLE=sha256:$(sha256sum <"$WORK/tmp/trickle" | cut -d' ' -f1)
UP_PIDS=()
for ((i = 0; i < 20; i++)); do
	# The body is chunked, from the pipe: 2000 bytes, then nothing until
	# the case closes it.
	curl -s -o /dev/null -X POST -H 'Expect:' -H 'Content-Type: application/octet-stream' \
		-T - "$URL/v2/slow/blobs/uploads/?digest=$TRICKLE" <"$STUCK" &
	UP_PIDS+=($!)
done
exec 8>"$STUCK"
head -c 2000 /dev/zero >&8
for ((i = 0; i < 600; i++)); do
	[ "$(established)" -ge 20 ] && break
	sleep 0.1
done
assert_true "20 uploads connected ($(established))" [ "$(established)" -ge 20 ]
(ls -lR "$MNT" >/dev/null && sha256sum "$MNT/big/img/blobs/sha256/${LB#sha256:}" >/dev/null &&
	touch "$WORK/tmp/mount-done") &
MP=$!
for ((i = 0; i < 1200; i++)); do
	[ -e "$WORK/tmp/mount-done" ] && break
	kill -0 "$MP" 2>/dev/null || break
	sleep 0.1
done
assert_true "ls -lR and a 24 MB read through the mount beside 20 stuck uploads completed" \
	[ -e "$WORK/tmp/mount-done" ]
wait "$MP" || true
for p in "${UP_PIDS[@]}"; do
	assert_true "upload $p is still stuck after the mount work" kill -0 "$p"
done
exec 8>&-
for p in "${UP_PIDS[@]}"; do
	wait "$p" || true
done
exec 7>"$MNT/copied/blobs/sha256/$(printf '%064d' 0)"
printf 'half' >&7
for ((i = 0; i < 20; i++)); do
	req GET "/v2/copied/manifests/v1" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 200
done
# Answered, all 20, with the file still held open.
exec 7>&- || true

check_all_layouts "$WORK/data" >/dev/null
dray_stop
pass
