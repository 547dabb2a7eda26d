#!/bin/bash
# api-upload-status.sh - upload sessions: GET <location> (end-13) answers
# 204 with Location and Range; DELETE <location> (cancel, end-14) answers
# 204 and ends the session (then GET/PATCH/PUT/DELETE give 404
# BLOB_UPLOAD_UNKNOWN); unknown session ids and sessions asked for through
# another repository are 404; cancelled staging data is released.
. "$(dirname "$0")/../lib.sh"

dray_start
REPO=up/status

# --- a fresh session
req POST "/v2/$REPO/blobs/uploads/"
assert_status 202
LOC=$(hdr Location)
req GET "$(abs_url "$LOC")"
assert_status 204
assert_header_present Location
assert_header_present Range
# Nothing uploaded yet; the spec's "0-<end-of-range>" has no value for an
# empty upload; registries answer "0-0" (Distribution) or "0--1".
assert_header_match Range '^0-(0|-1)$'
assert_body_empty
if hdr Content-Length >/dev/null; then
	assert_content_length 0
fi

# --- after 123457 bytes
N=123457
mkblob "$WORK/tmp/blob" "$N"
req PATCH "$(abs_url "$LOC")" -H 'Content-Type: application/octet-stream' \
	-H "Content-Range: 0-$((N - 1))" --data-binary "@$WORK/tmp/blob"
assert_status 202
LOC=$(hdr Location)
req GET "$(abs_url "$LOC")"
assert_status 204
assert_header Range "0-$((N - 1))"
assert_header_present Location
assert_body_empty
LOC=$(hdr Location)
# Twice: a status query changes nothing.
req GET "$(abs_url "$LOC")"
assert_status 204
assert_header Range "0-$((N - 1))"

# --- the session belongs to its repository
push_blob up/other "$WORK/tmp/blob" # make up/other exist
OTHER=$(abs_url "$LOC")
OTHER=${OTHER/\/v2\/$REPO\//\/v2\/up\/other\/}
req GET "$OTHER"
assert_error 404 BLOB_UPLOAD_UNKNOWN
req GET "$(abs_url "$LOC")"
assert_status 204

# --- cancel (end-14): 204, then the session is unknown everywhere
req DELETE "$(abs_url "$LOC")"
assert_status 204
assert_body_empty
req GET "$(abs_url "$LOC")"
assert_error 404 BLOB_UPLOAD_UNKNOWN
req PATCH "$(abs_url "$LOC")" -H 'Content-Type: application/octet-stream' \
	-H "Content-Range: $N-$N" --data-binary x
assert_error 404 BLOB_UPLOAD_UNKNOWN
req PUT "$(with_query "$(abs_url "$LOC")" "digest=$(digest_of "$WORK/tmp/blob")")"
assert_error 404 BLOB_UPLOAD_UNKNOWN
req DELETE "$(abs_url "$LOC")"
assert_error 404 BLOB_UPLOAD_UNKNOWN
# The cancelled bytes were never committed to the repository.
req HEAD "/v2/$REPO/blobs/$(digest_of "$WORK/tmp/blob")"
assert_status 404

# --- made-up session ids
for sid in 00000000-0000-0000-0000-000000000000 nosuchsession abc.def_ghi-jkl=; do
	req GET "/v2/$REPO/blobs/uploads/$sid"
	assert_error 404 BLOB_UPLOAD_UNKNOWN
	req PATCH "/v2/$REPO/blobs/uploads/$sid" \
		-H 'Content-Type: application/octet-stream' \
		-H 'Content-Range: 0-0' --data-binary x
	assert_error 404 BLOB_UPLOAD_UNKNOWN
	req DELETE "/v2/$REPO/blobs/uploads/$sid"
	assert_error 404 BLOB_UPLOAD_UNKNOWN
done

if dray_only "cancelled upload released its staging data"; then
	# up/other holds the same bytes as a blob (possibly hard-linked into
	# a dedupe store): any other file of that size is leftover staging.
	assert_eq "" "$(find "$WORK/data" -type f -size ${N}c \
		! -samefile "$WORK/data/up/other/blobs/sha256/$(digest_of "$WORK/tmp/blob" | cut -d: -f2)")" \
		"staging file survives DELETE"
	check_layout "$WORK/data/up/other"
fi

# --- several sessions at once are independent
req POST "/v2/$REPO/blobs/uploads/"
A=$(hdr Location)
req POST "/v2/$REPO/blobs/uploads/"
B=$(hdr Location)
printf 'aaaa' >"$WORK/tmp/a"
printf 'bbbbbbbb' >"$WORK/tmp/b"
req PATCH "$(abs_url "$A")" -H 'Content-Range: 0-3' \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/a"
assert_status 202
A=$(hdr Location)
req PATCH "$(abs_url "$B")" -H 'Content-Range: 0-7' \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/b"
assert_status 202
B=$(hdr Location)
req GET "$(abs_url "$A")"
assert_header Range 0-3
req GET "$(abs_url "$B")"
assert_header Range 0-7
req PUT "$(with_query "$(abs_url "$A")" "digest=$(digest_of "$WORK/tmp/a")")"
assert_status 201
req PUT "$(with_query "$(abs_url "$B")" "digest=$(digest_of "$WORK/tmp/b")")"
assert_status 201
req GET "/v2/$REPO/blobs/$(digest_of "$WORK/tmp/a")"
assert_body_file "$WORK/tmp/a"

dray_stop
pass
