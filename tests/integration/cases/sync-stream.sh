#!/bin/bash
# sync-stream.sh - a blob fetched on demand is streamed to the client
# while it arrives, not after. Upstream: tests/tools/slowup, which holds
# the last 1 MiB of every blob until a flag file exists, so nothing here
# depends on timing:
#   - the client has received bytes of the blob while the upstream still
#     holds its end; released, it gets all of it (right hash) and the blob
#     is stored (served again without asking upstream);
#   - 3 clients at once share one upstream transfer, each streamed, and
#     all get the right bytes;
#   - an upstream that answers wrong bytes, or cuts the transfer: the
#     client's transfer fails (short of the length announced) and nothing
#     is stored.
. "$(dirname "$0")/../lib.sh"
require_dray "pull-through streaming"

MIB=1048576
UP=$WORK/tmp/up
REL=$WORK/tmp/release
mkdir -p "$UP"

# blob_file SEED MIB: a file of MIB MiB of random bytes in $UP, named by
# its sha256; prints the hex.
blob_file() {
	local t=$WORK/tmp/blob.$1 h
	head -c $(($2 * MIB)) /dev/urandom >"$t"
	h=$(sha256sum "$t" | cut -d' ' -f1)
	mv "$t" "$UP/$h"
	echo "$h"
}

# get_blob HEX OUT: GET blob sha256:HEX of lib/app through dray into OUT
# (status in OUT.st, curl's exit status in OUT.rc); run it with &.
get_blob() {
	local rc=0
	curl -s -o "$2" -w '%{http_code}' "$URL/v2/lib/app/blobs/sha256:$1" \
		>"$2.st" 2>/dev/null || rc=$?
	echo "$rc" >"$2.rc"
}

# up_gets HEX: how many GETs of blob HEX the upstream has had.
up_gets() {
	grep -c "^GET /v2/lib/app/blobs/sha256:$1\$" "$SLOWUP_LOG" || true
}

# wait_up_log LINE WHAT: wait until the upstream logged LINE (exactly).
wait_up_log() {
	local i
	for ((i = 0; i < 1200; i++)); do
		grep -qx "$1" "$SLOWUP_LOG" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "$2: the upstream never logged '$1'"
}

# head_status HEX: HEAD of blob sha256:HEX of lib/app (a HEAD never
# asks upstream: 200 means stored here).
head_status() {
	req HEAD "/v2/lib/app/blobs/sha256:$1"
	echo "$STATUS"
}

A=$(blob_file a 4)
B=$(blob_file b 3)
# Wrong bytes: a file named for other content.
W=$(head -c $((3 * MIB)) /dev/urandom | sha256sum | cut -d' ' -f1)
head -c $((3 * MIB)) /dev/urandom >"$UP/$W"
T=$(blob_file t 3)

slowup_start "$UP" "$MIB" "$REL"
echo '{}' >"$WORK/cfg/creds.json"
dray_config_ext "$CFG" -- "extensions:
  sync:
    credentialsFile: $WORK/cfg/creds.json
    registries:
      - urls: [\"$SLOWUP_URL\"]
        onDemand: true
        content:
          - prefix: \"lib/**\""
dray_start

# --- the first bytes come before the upstream has sent the last
get_blob "$A" "$WORK/tmp/a" &
CLIENT=$!
wait_up_log "holding $A" "the upstream sent all but the last MiB"
wait_file_size "$WORK/tmp/a" $((2 * MIB)) "the client's bytes while upstream holds the end"
assert_true "the upstream is still holding" test ! -e "$REL"
assert_eq 404 "$(head_status "$A")" "the blob is not stored before it is whole"
touch "$REL"
wait "$CLIENT"
assert_eq 0 "$(cat "$WORK/tmp/a.rc")" "curl's exit status once released"
assert_eq 200 "$(cat "$WORK/tmp/a.st")" "the streamed GET's status"
assert_true "the client has the upstream's bytes" cmp -s "$WORK/tmp/a" "$UP/$A"
assert_eq 200 "$(head_status "$A")" "the blob is stored"
req GET "/v2/lib/app/blobs/sha256:$A"
assert_status 200
assert_eq "$A" "$(sha256sum <"$RESP/body" | cut -d' ' -f1)" "the stored blob's hash"
assert_eq 1 "$(up_gets "$A")" "upstream GETs of the blob, stored then served"

# --- three clients share one streamed transfer
rm -f "$REL"
PIDS=()
for i in 1 2 3; do
	get_blob "$B" "$WORK/tmp/b$i" &
	PIDS+=($!)
done
wait_up_log "holding $B" "the upstream holds the shared blob's end"
for i in 1 2 3; do
	wait_file_size "$WORK/tmp/b$i" "$MIB" "client $i's bytes while upstream holds the end"
done
touch "$REL"
wait "${PIDS[@]}"
for i in 1 2 3; do
	assert_eq 200 "$(cat "$WORK/tmp/b$i.st")" "client $i's status"
	assert_true "client $i has the upstream's bytes" cmp -s "$WORK/tmp/b$i" "$UP/$B"
done
assert_eq 1 "$(up_gets "$B")" "upstream transfers for 3 clients"
assert_eq 200 "$(head_status "$B")" "the shared blob is stored"

# --- wrong bytes: the client's transfer fails, nothing is stored
rm -f "$REL"
M=$(log_mark)
get_blob "$W" "$WORK/tmp/w" &
CLIENT=$!
wait_up_log "holding $W" "the upstream holds the wrong blob's end"
wait_file_size "$WORK/tmp/w" "$MIB" "the client's bytes of the wrong blob"
touch "$REL"
wait "$CLIENT"
assert_eq 200 "$(cat "$WORK/tmp/w.st")" "the wrong blob's status (sent before its end)"
assert_true "curl saw the transfer fail" test "$(cat "$WORK/tmp/w.rc")" != 0
assert_true "the client did not get the whole length" \
	test "$(stat -c %s "$WORK/tmp/w")" -lt $((3 * MIB))
wait_log "$M" "blob stream cut" "dray cut the wrong blob's stream"
assert_eq 404 "$(head_status "$W")" "wrong bytes are not stored"
assert_true "no file of the wrong blob" test ! -e "$WORK/data/lib/app/blobs/sha256/$W"

# --- an upstream that cuts the transfer
rm -f "$REL"
get_blob "$T" "$WORK/tmp/t" &
CLIENT=$!
wait_up_log "holding $T" "the upstream holds the cut blob's end"
wait_file_size "$WORK/tmp/t" "$MIB" "the client's bytes of the cut blob"
touch "$REL.cut"
wait "$CLIENT"
assert_true "curl saw the transfer fail" test "$(cat "$WORK/tmp/t.rc")" != 0
assert_true "the client did not get the whole length" \
	test "$(stat -c %s "$WORK/tmp/t")" -lt $((3 * MIB))
assert_eq 404 "$(head_status "$T")" "a cut blob is not stored"
rm -f "$REL.cut"
touch "$REL"
# Once the upstream is whole again the next pull succeeds.
get_blob "$T" "$WORK/tmp/t2"
assert_eq 200 "$(cat "$WORK/tmp/t2.st")" "the cut blob once the upstream is whole"
assert_true "and its bytes" cmp -s "$WORK/tmp/t2" "$UP/$T"
assert_alive "after the failed streams"
dray_stop
pass
