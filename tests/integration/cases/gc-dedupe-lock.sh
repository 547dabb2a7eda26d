#!/bin/bash
# gc-dedupe-lock.sh - issue 8 item 7: the dedupe conversion hashes and
# copies whole blobs outside the repository lock, and GC reads manifests
# outside it, so manifest requests on that repository are answered
# meanwhile. A test-only pause point
# (DRAY_TEST_HOLD=dedupe:<file>) stops the conversion in the middle of a
# blob (after hashing it, or after copying it) until <file> exists, and
# logs that it waits; while it waits, a manifest GET and PUT on the
# repository must answer (curl's 60 s limit only guards against a hang).
# Then the conversion is released and must have done its work right:
#   1. dedupe turned on over a layout dropped under the root: the held
#      blob is replaced behind the conversion's back by a file of other
#      bytes, so it must be left alone (not entered into the content
#      store); every other blob hashes to its name and is the store's
#      inode;
#   2. dedupe turned off: every blob is a private file that hashes to its
#      name;
#   3. GC (DRAY_TEST_HOLD=gc:<file>) reads and hashes the manifests of a
#      repository before it takes its lock, and pauses there; afterwards
#      it still removes an unreferenced blob and keeps every tagged image.
# (The same for an upload commit that links to the store's copy:
# unit/lockhold, as HTTP requests on one listener thread wait for each
# other whatever the lock.)
. "$(dirname "$0")/../lib.sh"
require_dray "a test-only pause point and the content store on disk"
need_mkimage

REQ_TIMEOUT=60
HOLD=$WORK/tmp/release
SRC=$WORK/tmp/src
"$MKIMAGE" "$SRC" v1 --layers 3 --layer-size 2000000 --seed 71 >/dev/null

# held_repo MARK POINT: wait for the pause at POINT logged after MARK; the
# file it holds in $HELD_FILE, its repository in $HELD.
held_repo() {
	local line
	wait_log "$1" "test hold: $2 at " "the $2 step pauses"
	line=$(tail -n +"$(($1 + 1))" "$DAEMON_LOG" | grep -m1 "test hold: $2 at ")
	HELD=${line#*test hold: $2 at }
	HELD_FILE=${HELD%%, waiting for*}
	HELD=${HELD_FILE#"$WORK/data/"}
	HELD=${HELD%/blobs/*}
	log "  paused at $2: $HELD_FILE"
}

# answers_while_held REPO MARK: manifest GET of REPO:v1 and PUT of the same
# manifest as tag "during-hold" answer while the pause logged after MARK
# has not been released.
answers_while_held() {
	local repo=$1 mt
	req GET "/v2/$repo/manifests/v1" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 200
	cp "$RESP/body" "$WORK/tmp/held.json"
	mt=$(jq -r .mediaType "$WORK/tmp/held.json")
	req PUT "/v2/$repo/manifests/during-hold" -H "Content-Type: $mt" \
		--data-binary "@$WORK/tmp/held.json"
	assert_status 201
	req HEAD "/v2/$repo/manifests/during-hold" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 200
	assert_true "the step was still paused while $repo answered" \
		bash -c "! tail -n +$(($2 + 1)) '$DAEMON_LOG' | grep -q 'test hold: .* released'"
}

# release MARK: let the paused step go on; wait for it to say so.
release() {
	touch "$HOLD"
	wait_log "$1" "test hold: .* released" "the paused step goes on"
}

# conversion_done MARK: wait until the conversion started after MARK ended.
conversion_done() {
	wait_log "$1" "dedupe took" "the dedupe conversion ends"
}

# --- 1. dedupe on over a hand-placed layout: hash outside the lock
mkdir -p "$WORK/data/hand"
cp -r "$SRC" "$WORK/data/hand/a"
export DRAY_TEST_HOLD="dedupe:$HOLD"
M=$(log_mark)
dray_start_cfg "dedupe: true"
held_repo "$M" dedupe
assert_eq hand/a "$HELD" "the repository the conversion paused in"
answers_while_held hand/a "$M"
# The held blob, already hashed, is swapped for other bytes.
GOOD_COPY=$WORK/tmp/held.good
cp "$HELD_FILE" "$GOOD_COPY"
HELD_D=sha256:${HELD_FILE##*/}
head -c "$(filesize "$HELD_FILE")" /dev/zero | tr '\0' 'z' >"$WORK/tmp/held.bad"
mv -f "$WORK/tmp/held.bad" "$HELD_FILE"
release "$M"
conversion_done "$M"
N=$(find "$WORK/data/hand/a/blobs" -type f | wc -l)
assert_true "the conversion converted $((N - 1)) of the $N blobs of hand/a" \
	grep -q "dedupe on: $((N - 1)) blobs converted" "$DAEMON_LOG"
assert_true "the swapped file did not enter the content store" \
	[ ! -e "$(store_blob_file "$HELD_D")" ]
assert_eq 1 "$(nlinks_of "$HELD_FILE")" "links of the swapped file"
# Put the right bytes back; every blob then hashes to its name, and all
# but that one are the content store's.
cp "$GOOD_COPY" "$HELD_FILE.tmp"
mv -f "$HELD_FILE.tmp" "$HELD_FILE"
for f in "$WORK/data/hand/a"/blobs/sha256/*; do
	d=sha256:${f##*/}
	assert_eq "$d" "$(digest_of "$f")" "digest of $f"
	[ "$d" = "$HELD_D" ] && continue
	assert_eq "$(inode_of "$(store_blob_file "$d")")" "$(inode_of "$f")" \
		"inode of hand/a's $d vs the content store's"
done
pull_verify hand/a during-hold
dray_stop

# --- 2. dedupe off: copy outside the lock
rm -f "$HOLD"
M=$(log_mark)
dray_start_cfg "dedupe: false"
held_repo "$M" dedupe
assert_eq hand/a "$HELD" "the repository the conversion paused in"
answers_while_held hand/a "$M"
release "$M"
conversion_done "$M"
assert_true "the conversion made private copies of the $((N - 1)) shared blobs" \
	grep -q "dedupe off: $((N - 1)) blobs converted" "$DAEMON_LOG"
for f in "$WORK/data/hand/a"/blobs/sha256/*; do
	assert_eq "sha256:${f##*/}" "$(digest_of "$f")" "digest of $f"
	assert_eq 1 "$(nlinks_of "$f")" "links of $f"
done
pull_verify hand/a v1
pull_verify hand/a during-hold
dray_stop

# --- 3. GC reads the repository's manifests before it takes the lock
rm -f "$HOLD"
export DRAY_TEST_HOLD="gc:$HOLD"
M=$(log_mark)
dray_start_cfg "dedupe: false" "gcDelay: 0s" "gcInterval: 1s"
mkblob "$WORK/tmp/junk" 100000 junk
push_blob hand/a "$WORK/tmp/junk"
JUNK=$BLOB_DIGEST
wait_log "$M" "test hold: gc at hand/a," "GC pauses after reading hand/a's manifests"
answers_while_held hand/a "$M"
release "$M"
gc_wait_passes 2 "GC after the pause"
assert_true "GC removed the unreferenced blob" [ ! -e "$(repo_blob_file hand/a "$JUNK")" ]
pull_verify hand/a v1
pull_verify hand/a during-hold
dray_stop
pass
