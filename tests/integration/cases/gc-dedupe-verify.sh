#!/bin/bash
# gc-dedupe-verify.sh - invariant 3 across repositories with dedupe. A
# layout dropped under the root holds a layer whose content does not hash
# to its name; turning dedupe on (the background conversion) must not enter
# it into the content store: the mismatch is logged and the file left for
# scrub to report. The true content of that digest pushed to another
# repository then answers 201 and is served right, from an inode of its
# own, and a cross-repository mount from the bad file is refused. Likewise
# a bad copy put by hand into the content store itself is found when a
# push links to it: replaced, logged, never served.
. "$(dirname "$0")/../lib.sh"
require_dray "the content store on disk"
need_mkimage

SRC=$WORK/tmp/src
D=$("$MKIMAGE" "$SRC" v1 --layers 3 --layer-size 40000 --seed 77)
MAN=$SRC/blobs/sha256/${D#sha256:}
BAD=$(jq -r '.layers[0].digest' "$MAN")
BAD_IN_STORE=$(jq -r '.layers[1].digest' "$MAN")
GOOD=$(jq -r '.layers[2].digest' "$MAN")
good_file() { printf '%s/blobs/sha256/%s' "$SRC" "${1#sha256:}"; }

# --- a hand-placed layout with a bad layer (same size, other bytes)
mkdir -p "$WORK/data/hand"
cp -r "$SRC" "$WORK/data/hand/a"
F=$(repo_blob_file hand/a "$BAD")
head -c "$(filesize "$F")" /dev/zero | tr '\0' 'x' >"$F"
assert_ne "$BAD" "$(digest_of "$F")" "the planted file's digest"

# --- dedupe on: the conversion runs in the background at start
dray_start_cfg "dedupe: true"
for ((i = 0; i < 600; i++)); do
	grep -q 'dedupe took' "$DAEMON_LOG" 2>/dev/null && break
	daemon_alive || fail "daemon is no longer running"
	sleep 0.1
done
assert_true "the conversion ran" grep -q 'dedupe took' "$DAEMON_LOG"
assert_true "the conversion reports the mismatch" \
	grep -q "$(repo_blob_file hand/a "$BAD")' does not hash to its name" "$DAEMON_LOG"
assert_eq "$(inode_of "$(store_blob_file "$GOOD")")" \
	"$(inode_of "$(repo_blob_file hand/a "$GOOD")")" \
	"a good blob of the dropped layout is linked to the content store"
assert_true "the bad file did not enter the content store" \
	[ ! -e "$(store_blob_file "$BAD")" ]

# --- the true content of that digest, pushed to another repository
push_blob other/b "$(good_file "$BAD")" "$BAD"
req GET "/v2/other/b/blobs/$BAD"
assert_status 200
assert_body_digest "$BAD"
assert_ne "$(inode_of "$F")" "$(inode_of "$(repo_blob_file other/b "$BAD")")" \
	"inode of the pushed blob and of the bad file"
assert_true "the content store's copy is the pushed one" \
	cmp -s "$(store_blob_file "$BAD")" "$(good_file "$BAD")"
# A cross-repository mount from the bad file is refused: a plain upload
# session is offered instead (202), as for a blob the source lacks.
req POST "/v2/other/m/blobs/uploads/?mount=$BAD&from=hand/a"
assert_status 202
assert_true "nothing was mounted into other/m" [ ! -e "$(repo_blob_file other/m "$BAD")" ]
dray_stop

# --- a bad copy in the content store itself
S=$(store_blob_file "$BAD_IN_STORE")
rm -f "$S"
head -c 100 /dev/zero | tr '\0' 'y' >"$S"
dray_start_cfg "dedupe: true"
push_blob other/c "$(good_file "$BAD_IN_STORE")" "$BAD_IN_STORE"
req GET "/v2/other/c/blobs/$BAD_IN_STORE"
assert_status 200
assert_body_digest "$BAD_IN_STORE"
assert_true "the push reports the bad store copy" \
	grep -q "content store copy '$S' was bad: replaced" "$DAEMON_LOG"
assert_eq "$BAD_IN_STORE" "$(digest_of "$S")" "digest of the store copy after the push"
dray_stop

# --- scrub still reports the planted file
dray_cli scrub "$CFG"
assert_cli_rc 1 "scrub with the planted file"
assert_true "scrub names the planted file: $CLI_OUT" grep -q "hand/a.*${BAD#sha256:}" <<<"$CLI_OUT"
pass
