#!/bin/bash
# api-push-monolithic.sh - Push, "Pushing a blob monolithically": POST then
# PUT (end-4a, end-6) and single POST with ?digest= (end-4b). Checks the
# 202/201 statuses, Location (unique per session, absolute or relative,
# pullable when done), Docker-Content-Digest, empty and multi-MiB blobs,
# re-pushes, nested repository names, and that a closed session is gone.
. "$(dirname "$0")/../lib.sh"

dray_start
REPO=push/mono

# --- POST: 202 with a Location naming a unique session
req POST "/v2/$REPO/blobs/uploads/"
assert_status 202
assert_header_present Location
LOC1=$(hdr Location)
req POST "/v2/$REPO/blobs/uploads/"
assert_status 202
LOC2=$(hdr Location)
assert_ne "$LOC1" "$LOC2" "two sessions share one Location"

# --- PUT <location>?digest=: 201, Location of a pullable blob
mkblob "$WORK/tmp/b1" 70001
D1=$(digest_of "$WORK/tmp/b1")
req PUT "$(with_query "$(abs_url "$LOC1")" "digest=$D1")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/b1"
assert_status 201
assert_header_present Location
assert_header Docker-Content-Digest "$D1"
BLOC=$(hdr Location)
req GET "$BLOC"
assert_status 200
assert_body_file "$WORK/tmp/b1"
assert_header Docker-Content-Digest "$D1"
req HEAD "/v2/$REPO/blobs/$D1"
assert_status 200
assert_content_length 70001

# The closed session is gone.
req GET "$(abs_url "$LOC1")"
assert_error 404 BLOB_UPLOAD_UNKNOWN
req PUT "$(with_query "$(abs_url "$LOC1")" "digest=$D1")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/b1"
assert_error 404 BLOB_UPLOAD_UNKNOWN

# The second session is independent and still usable: push the same
# content again (an existing blob may be pushed again: 201).
req PUT "$(with_query "$(abs_url "$LOC2")" "digest=$D1")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/b1"
assert_status 201
assert_header Docker-Content-Digest "$D1"

# --- single POST (end-4b): the contract makes it 201 for dray.
mkblob "$WORK/tmp/b2" 123457
D2=$(digest_of "$WORK/tmp/b2")
req POST "/v2/$REPO/blobs/uploads/?digest=$D2" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/b2"
if [ "$STATUS" = 202 ] && ! is_dray; then
	# "Registries that do not support single request monolithic uploads
	# SHOULD return a 202 Accepted status code and Location header".
	note "single POST with ?digest= answered 202 (unsupported, allowed by the spec)"
	assert_header_present Location
	req PUT "$(with_query "$(abs_url "$(hdr Location)")" "digest=$D2")" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/b2"
fi
assert_status 201
assert_header_present Location
assert_header Docker-Content-Digest "$D2"
req GET "$(hdr Location)"
assert_status 200
assert_body_file "$WORK/tmp/b2"

# --- the empty blob
: >"$WORK/tmp/empty"
DE=$(digest_of "$WORK/tmp/empty")
push_blob "$REPO" "$WORK/tmp/empty"
assert_header Docker-Content-Digest "$DE"
req GET "/v2/$REPO/blobs/$DE"
assert_status 200
assert_content_length 0
assert_body_empty
req HEAD "/v2/$REPO/blobs/$DE"
assert_status 200
assert_content_length 0

# --- a 6 MiB blob through both forms
mkblob "$WORK/tmp/big" $((6 << 20))
DB=$(digest_of "$WORK/tmp/big")
push_blob "$REPO" "$WORK/tmp/big"
req GET "/v2/$REPO/blobs/$DB"
assert_status 200
assert_body_digest "$DB"
assert_content_length $((6 << 20))
req POST "/v2/push/mono2/blobs/uploads/?digest=$DB" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/big"
if [ "$STATUS" = 201 ] || is_dray; then
	assert_status 201
	req GET "/v2/push/mono2/blobs/$DB"
	assert_status 200
	assert_body_digest "$DB"
fi

# --- names: every form the name grammar allows
for name in push/a/b/c/d push/x.y_z-w__v push/a--b 0/1 push/ab.cd; do
	push_blob "$name" "$WORK/tmp/b1"
	req GET "/v2/$name/blobs/$D1"
	assert_status 200
	assert_body_file "$WORK/tmp/b1"
done

# --- a single POST whose digest does not match stores nothing
mkblob "$WORK/tmp/b3" 5000
D3=$(digest_of "$WORK/tmp/b3")
req POST "/v2/$REPO/blobs/uploads/?digest=$D2" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/b3"
if [ "$STATUS" != 202 ] || is_dray; then
	assert_error 400 DIGEST_INVALID
fi
req HEAD "/v2/$REPO/blobs/$D3"
assert_status 404

if dray_only "on-disk layout"; then
	# Each repository is an OCI layout; the blobs sit in it by digest.
	for name in "$REPO" push/mono2 push/a/b/c/d push/x.y_z-w__v 0/1; do
		check_layout "$WORK/data/$name"
	done
	assert_true "blob stored in the layout" \
		cmp -s "$WORK/tmp/b2" "$WORK/data/$REPO/blobs/sha256/${D2#sha256:}"
	assert_true "mismatched upload left no blob" \
		[ ! -e "$WORK/data/$REPO/blobs/sha256/${D3#sha256:}" ]
fi

dray_stop
pass
