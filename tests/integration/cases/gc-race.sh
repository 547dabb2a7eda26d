#!/bin/bash
# gc-race.sh - DESIGN invariant 6 (background GC never deletes what an
# in-flight push still needs): a running daemon with gcDelay 5s and
# gcInterval 1s, so GC passes run while pushes are in flight. Blobs pushed
# (new content; content the store already holds, linked into a new
# repository; cross-repository mounts of old content) and the manifest PUT
# 3 s later, after several GC passes: 201, and everything is pullable. An
# upload session idle for less than gcDelay survives GC passes; one idle
# for longer is dropped; one kept busy with PATCHes outlives gcDelay and
# completes. A blob pushed again (201) into a repository that already
# holds it, unreferenced, is safe for gcDelay from that push too.
. "$(dirname "$0")/../lib.sh"
require_dray "dray's GC scheduler"

dray_start_cfg "gcDelay: 5s" "gcInterval: 1s"
T0=$(date +%s.%N)
elapsed() {
	awk -v t="$T0" -v now="$(date +%s.%N)" 'BEGIN { printf "%.2f", now - t }'
}
gc_passes() {
	grep -c 'gc: [0-9]* tags' "$DAEMON_LOG" || true
}

# --- an upload session kept busy (S2) and one left idle (S1)
CH=$WORK/tmp/chunks
mkdir -p "$CH"
mkblob "$CH/all" 4000 chunks
S2_OFF=0
S2_LAST=0
req POST /v2/race/up/blobs/uploads/
assert_status 202
S2_LOC=$(hdr Location)
s2_patch() { # one more 100-byte chunk into S2
	slice "$CH/all" "$S2_OFF" 100 >"$CH/c"
	req PATCH "$S2_LOC" -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: $S2_OFF-$((S2_OFF + 99))" --data-binary "@$CH/c"
	assert_status 202
	S2_LOC=$(hdr Location)
	S2_OFF=$((S2_OFF + 100))
	S2_LAST=$(date +%s.%N)
}
s2_patch
req POST /v2/race/up/blobs/uploads/
assert_status 202
S1_LOC=$(hdr Location)
slice "$CH/all" 0 100 >"$CH/c1"
req PATCH "$S1_LOC" -H 'Content-Type: application/octet-stream' \
	-H 'Content-Range: 0-99' --data-binary "@$CH/c1"
assert_status 202
S1_LOC=$(hdr Location)

# wait_until SECONDS: sleep until SECONDS after T0, PATCHing S2 at least
# every 1.5 s meanwhile.
wait_until() {
	local i
	for ((i = 0; i < 300; i++)); do
		awk -v t="$T0" -v s="$1" -v now="$(date +%s.%N)" 'BEGIN { exit !(now - t >= s) }' && return 0
		if awk -v l="$S2_LAST" -v now="$(date +%s.%N)" 'BEGIN { exit !(now - l > 1.2) }'; then
			s2_patch
		fi
		sleep 0.1
	done
	fail "wait_until $1: not reached"
}

# --- old content: a tagged image, and the first push of a blob (D)
push_image race/base v1 2 20000
BASE_DIR=$IMG_DIR
BASE_BLOBS=("${IMG_LAYERS[@]}" "$IMG_CONFIG")
mkblob "$WORK/tmp/x" 6000 x
push_blob race/e "$WORK/tmp/x"
X=$BLOB_DIGEST
X_PUSH1=$(elapsed)

# GC is running: passes appear in the log.
for ((i = 0; i < 50; i++)); do
	[ "$(gc_passes)" -ge 2 ] && break
	sleep 0.1
done
assert_true "background GC passes are running (log shows $(gc_passes))" [ "$(gc_passes)" -ge 2 ]

wait_until 3
req GET "$S1_LOC"
assert_status 204 # idle 3 s < gcDelay: still there

# --- D: the blob pushed again, 3.5 s after the first push
wait_until 3.5
push_blob race/e "$WORK/tmp/x"
X_PUSH2=$(elapsed)

# --- A, B, C once the base image is older than gcDelay
wait_until 6
# A: new content
mkblob "$WORK/tmp/a0" 30000 a0
mkblob "$WORK/tmp/a1" 30000 a1
push_blob race/a "$WORK/tmp/a0"
push_blob race/a "$WORK/tmp/a1"
mkconfig "$WORK/tmp/a.config" "$WORK/tmp/a0" "$WORK/tmp/a1"
push_blob race/a "$WORK/tmp/a.config"
mkmanifest "$WORK/tmp/a.json" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/a.config")" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/a0")" "$(desc "$MT_OCI_LAYER" "$WORK/tmp/a1")"
# B: content the store holds (base's), pushed into a new repository
for f in "$BASE_DIR"/layer* "$BASE_DIR/config.json"; do
	push_blob race/c "$f"
done
# C: base's blobs mounted into another repository
for b in "${BASE_BLOBS[@]}"; do
	req POST "/v2/race/d/blobs/uploads/?mount=$b&from=race/base"
	assert_status 201
done
PASSES_BEFORE=$(gc_passes)

# --- D: the manifest, 3.5 s after the second push of its blob
wait_until 7
mkconfig "$WORK/tmp/e.config" "$WORK/tmp/x"
push_blob race/e "$WORK/tmp/e.config"
mkmanifest "$WORK/tmp/e.json" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/e.config")" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/x")"
req PUT /v2/race/e/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$WORK/tmp/e.json"
D_STATUS=$STATUS
D_AT=$(elapsed)

# --- A, B, C: manifests 3 s after their blobs, several GC passes later
wait_until 9
assert_true "GC ran while the blobs waited for their manifests ($PASSES_BEFORE -> $(gc_passes) passes)" \
	[ "$(gc_passes)" -ge $((PASSES_BEFORE + 2)) ]
push_manifest race/a v1 "$WORK/tmp/a.json" "$MT_OCI_MANIFEST"
push_manifest race/c v1 "$BASE_DIR/manifest.json" "$MT_OCI_MANIFEST"
push_manifest race/d v1 "$BASE_DIR/manifest.json" "$MT_OCI_MANIFEST"
pull_verify race/a v1
pull_verify race/c v1
pull_verify race/d v1
pull_verify race/base v1

# --- upload sessions: S1 idle > gcDelay is gone, S2 (busy) completes
req GET "$S1_LOC"
assert_status 404
s2_patch
slice "$CH/all" 0 "$S2_OFF" >"$CH/s2"
S2_D=$(digest_of "$CH/s2")
req PUT "$(with_query "$(abs_url "$S2_LOC")" "digest=$S2_D")"
assert_status 201
req GET "/v2/race/up/blobs/$S2_D"
assert_status 200
assert_body_file "$CH/s2"
log "  S2 lived $(elapsed) s with $((S2_OFF / 100)) PATCHes; $(gc_passes) GC passes so far"

# --- D's verdict (checked last so the others are reported first)
ASSERTS=$((ASSERTS + 1))
[ "$D_STATUS" = 201 ] ||
	fail "blob $X pushed at ${X_PUSH1}s, pushed again (201) at ${X_PUSH2}s into race/e which held it unreferenced, was collected before gcDelay (5s) from the second push: manifest PUT at ${D_AT}s got $D_STATUS"
pull_verify race/e v1
assert_alive "after the races"
check_all_layouts "$WORK/data" >/dev/null
dray_stop
pass
