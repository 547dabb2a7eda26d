#!/bin/bash
# gc-race.sh - DESIGN invariant 6 (background GC never deletes what an
# in-flight push still needs): a running daemon with gcDelay 1h and
# gcInterval 1s, so GC passes run while pushes are in flight, and an age
# clock (DRAY_TEST_CLOCK_FILE) that the case moves in 50-minute steps
# instead of sleeping: ages are exact whatever the load, and each step is
# followed by two GC passes (waited for in the log), so every step is seen
# by a whole pass. Blobs pushed (new content; content the store already
# holds and that is older than gcDelay, pushed into a new repository;
# cross-repository mounts of that old content), then 50 minutes and at
# least two GC passes later the manifests: 201, and everything is
# pullable. An upload session idle for 50 minutes survives; idle for 100
# (after the status GET at 50) it is dropped; one PATCHed every 50 minutes outlives gcDelay (150
# minutes in all) and completes. A blob pushed again (201) into a
# repository that holds it unreferenced, 50 minutes after its first push,
# is safe for gcDelay from that second push: its manifest 100 minutes
# after the first push gets 201. A control shows that time does pass for
# GC: a loose blob is kept at 50 minutes and gone at 100.
. "$(dirname "$0")/../lib.sh"
require_dray "dray's GC scheduler and its test clock"

STEP=3000 # 50 minutes: less than gcDelay; two steps are more
test_clock_on
dray_start_cfg "gcDelay: 1h" "gcInterval: 1s"
assert_true "the daemon warns that the test clock is in use" \
	grep -q "test clock: ages shifted by the seconds in '$DRAY_TEST_CLOCK_FILE'" "$DAEMON_LOG"

# step: move the age clock 50 minutes on and wait until GC saw it.
step() {
	clock_advance "$STEP"
	gc_wait_passes 2 "age clock at +$((TEST_CLOCK_S / 60)) min"
}

# --- an upload session kept busy (S2) and one left idle (S1)
CH=$WORK/tmp/chunks
mkdir -p "$CH"
mkblob "$CH/all" 4000 chunks
S2_OFF=0
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

# --- at +0: old content (a tagged image), the first push of X (D), and
# a loose blob nothing will name (the control)
push_image race/base v1 2 20000
BASE_DIR=$IMG_DIR
BASE_BLOBS=("${IMG_LAYERS[@]}" "$IMG_CONFIG")
mkblob "$WORK/tmp/x" 6000 x
push_blob race/e "$WORK/tmp/x"
X=$BLOB_DIGEST
mkblob "$WORK/tmp/loose" 3000 loose
push_blob race/junk "$WORK/tmp/loose"
LOOSE=$BLOB_DIGEST
gc_wait_passes 2 "background GC passes are running"

# --- at +50 min
step
req HEAD "/v2/race/junk/blobs/$LOOSE"
assert_status 200 # 50 min old < gcDelay: kept
req GET "$S1_LOC"
assert_status 204 # idle 50 min < gcDelay: still there (a GET is a use)
s2_patch
# D: X pushed again into race/e, which holds it unreferenced
push_blob race/e "$WORK/tmp/x"

# --- at +100 min: the base image is older than gcDelay
step
req HEAD "/v2/race/junk/blobs/$LOOSE"
assert_status 404 # the control: 100 min old > gcDelay: collected
s2_patch
# D: X's manifest, 100 min after its first push, 50 after the second
mkconfig "$WORK/tmp/e.config" "$WORK/tmp/x"
push_blob race/e "$WORK/tmp/e.config"
mkmanifest "$WORK/tmp/e.json" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/e.config")" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/x")"
req PUT /v2/race/e/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$WORK/tmp/e.json"
D_STATUS=$STATUS
D_BODY=$(body)
# A: new content
mkblob "$WORK/tmp/a0" 30000 a0
mkblob "$WORK/tmp/a1" 30000 a1
push_blob race/a "$WORK/tmp/a0"
push_blob race/a "$WORK/tmp/a1"
mkconfig "$WORK/tmp/a.config" "$WORK/tmp/a0" "$WORK/tmp/a1"
push_blob race/a "$WORK/tmp/a.config"
mkmanifest "$WORK/tmp/a.json" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/a.config")" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/a0")" "$(desc "$MT_OCI_LAYER" "$WORK/tmp/a1")"
# B: content the store holds (base's, 100 min old), pushed into a new
# repository
for f in "$BASE_DIR"/layer* "$BASE_DIR/config.json"; do
	push_blob race/c "$f"
done
# C: base's blobs mounted into another repository
for b in "${BASE_BLOBS[@]}"; do
	req POST "/v2/race/d/blobs/uploads/?mount=$b&from=race/base"
	assert_status 201
done
PASSES_BEFORE=$(gc_passes)

# --- at +150 min: A, B, C's manifests, 50 min and two passes after
# their blobs
step
assert_true "GC ran while the blobs waited for their manifests ($PASSES_BEFORE -> $(gc_passes) passes)" \
	[ "$(gc_passes)" -ge $((PASSES_BEFORE + 2)) ]
req GET "$S1_LOC"
assert_status 404 # idle 100 min (since the GET) > gcDelay: dropped
push_manifest race/a v1 "$WORK/tmp/a.json" "$MT_OCI_MANIFEST"
push_manifest race/c v1 "$BASE_DIR/manifest.json" "$MT_OCI_MANIFEST"
push_manifest race/d v1 "$BASE_DIR/manifest.json" "$MT_OCI_MANIFEST"
pull_verify race/a v1
pull_verify race/c v1
pull_verify race/d v1
pull_verify race/base v1

# --- S2, PATCHed every 50 min for 150 min in all, completes
s2_patch
slice "$CH/all" 0 "$S2_OFF" >"$CH/s2"
S2_D=$(digest_of "$CH/s2")
req PUT "$(with_query "$(abs_url "$S2_LOC")" "digest=$S2_D")"
assert_status 201
req GET "/v2/race/up/blobs/$S2_D"
assert_status 200
assert_body_file "$CH/s2"
log "  S2 lived 150 min of age clock with $((S2_OFF / 100)) PATCHes; $(gc_passes) GC passes in all"

# --- D's verdict (checked last so the others are reported first)
ASSERTS=$((ASSERTS + 1))
[ "$D_STATUS" = 201 ] ||
	fail "blob $X pushed at +0, pushed again (201) at +50 min into race/e which held it unreferenced, was collected before gcDelay (1h) from the second push: manifest PUT at +100 min got $D_STATUS $D_BODY"
pull_verify race/e v1
assert_alive "after the races"
check_all_layouts "$WORK/data" >/dev/null
dray_stop
pass
