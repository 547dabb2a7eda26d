#!/bin/bash
# limits-blob-size.sh - storage.maxBlobSize: a blob may reach it and not
# pass it. Past it the answer is 413 SIZE_INVALID, checked against
# Content-Length before the body is read when there is one, and against
# the bytes received for a chunked body; the session ends and its
# staging file is gone.
. "$(dirname "$0")/../lib.sh"
require_dray "storage.maxBlobSize"

MAX=1048576
dray_start_cfg "maxBlobSize: $MAX"
mkblob "$WORK/tmp/max" $MAX 1
mkblob "$WORK/tmp/over" $((MAX + 1)) 2
DMAX=$(digest_of "$WORK/tmp/max")
DOVER=$(digest_of "$WORK/tmp/over")

staging_files() {
	find "$WORK/data/.dray/uploads" -type f | wc -l
}

# --- exactly the limit is fine, monolithic and chunked
push_blob size/ok "$WORK/tmp/max"
upload_open size/ok
req PATCH "$(abs_url "$LOC")" -H 'Transfer-Encoding: chunked' \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/max"
assert_status 202
LOC=$(hdr Location)
req PUT "$(with_query "$(abs_url "$LOC")" "digest=$DMAX")"
assert_status 201

# --- one byte over: monolithic POST, by Content-Length. The refusal
# comes before the body is read, and the connection is closed: a client
# that waits for 100 Continue (as this one) gets it, one that sends the
# body anyway may meet a reset before it reads the answer.
REQ_EXPECT=100-continue req POST "/v2/size/no/blobs/uploads/?digest=$DOVER" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/over"
assert_error 413 SIZE_INVALID
assert_eq 0 "$(staging_files)" "staging files after a refused POST"

# --- PATCH by Content-Length: the session is gone
upload_open size/no
REQ_EXPECT=100-continue req PATCH "$(abs_url "$LOC")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/over"
assert_error 413 SIZE_INVALID BLOB_UPLOAD_INVALID
req GET "$(abs_url "$LOC")"
assert_error 404 BLOB_UPLOAD_UNKNOWN
assert_eq 0 "$(staging_files)" "staging files after a refused PATCH"

# --- PATCH chunked: counted as it comes
upload_open size/no
req PATCH "$(abs_url "$LOC")" -H 'Transfer-Encoding: chunked' \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/over"
assert_error 413 SIZE_INVALID BLOB_UPLOAD_INVALID
req GET "$(abs_url "$LOC")"
assert_error 404 BLOB_UPLOAD_UNKNOWN
assert_eq 0 "$(staging_files)" "staging files after a refused chunked PATCH"

# --- the closing PUT: what came before counts
upload_open size/no
upload_chunk "$WORK/tmp/max" 0
REQ_EXPECT=100-continue req PUT "$(with_query "$(abs_url "$LOC")" "digest=$DOVER")" \
	-H 'Content-Type: application/octet-stream' --data-binary "x"
assert_error 413 SIZE_INVALID BLOB_UPLOAD_INVALID
req GET "/v2/size/no/blobs/$DOVER"
assert_error 404 BLOB_UNKNOWN NAME_UNKNOWN
assert_eq 0 "$(staging_files)" "staging files after a refused PUT"
assert_alive "after the refusals"
pass
