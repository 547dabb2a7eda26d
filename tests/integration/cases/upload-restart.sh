#!/bin/bash
# upload-restart.sh - upload sessions across restarts. A clean stop
# (SIGTERM) parks every open session and the next start resumes it: the
# status answers the same Range, the client sends the rest, and the blob
# is whole. After a SIGKILL nothing is resumed (what the disk holds is
# not known to match what was acknowledged): the session is unknown and
# no staging file is left.
. "$(dirname "$0")/../lib.sh"
require_dray "parked upload sessions"

N1=3000000
N2=1234567
mkblob "$WORK/tmp/blob" $((N1 + N2)) 7
head -c "$N1" "$WORK/tmp/blob" >"$WORK/tmp/part1"
tail -c "$N2" "$WORK/tmp/blob" >"$WORK/tmp/part2"
D=$(digest_of "$WORK/tmp/blob")

dray_start
upload_open up/restart
upload_chunk "$WORK/tmp/part1" 0
FIRST=$LOC
upload_open up/restart # a second session, with nothing in it yet
SECOND=$LOC
dray_stop

dray_start
LOC=$FIRST
req GET "$(abs_url "$LOC")"
assert_status 204
assert_header Range "0-$((N1 - 1))"
upload_chunk "$WORK/tmp/part2" "$N1"
req PUT "$(with_query "$(abs_url "$LOC")" "digest=$D")"
assert_status 201
req GET "/v2/up/restart/blobs/$D"
assert_status 200
assert_body_digest "$D"
LOC=$SECOND
req GET "$(abs_url "$LOC")"
assert_status 204
assert_header_match Range '^0-(0|-1)$'

# --- what a resumed session holds is still checked at the end
upload_chunk "$WORK/tmp/part1" 0
dray_stop
dray_start
req PUT "$(with_query "$(abs_url "$LOC")" "digest=$D")"
assert_error 400 DIGEST_INVALID

# --- SIGKILL: nothing resumes, nothing is left
upload_open up/restart
upload_chunk "$WORK/tmp/part1" 0
dray_kill9
dray_start
req GET "$(abs_url "$LOC")"
assert_error 404 BLOB_UPLOAD_UNKNOWN
dray_stop
assert_eq "" "$(find "$WORK/data/.dray/uploads" -type f)" \
	"staging files or records after a SIGKILL, a start and a stop"
pass
