#!/bin/bash
# api-sha512.sh - sha512 digests everywhere a digest goes (image-spec
# descriptor.md registers sha256 and sha512): monolithic, single-POST and
# chunked blob uploads (with and without ?digest-algorithm=sha512), GET,
# HEAD, Range, mount, DIGEST_INVALID for a wrong sha512, manifests that
# reference sha512 blobs, and manifests pushed and pulled by a sha512
# digest (Docker-Content-Digest must equal the client's digest). In dray's
# layout the blobs sit under blobs/sha512/.
. "$(dirname "$0")/../lib.sh"

dray_start
REPO=s512/app

mkblob "$WORK/tmp/a" 200000
DA=$(digest_of "$WORK/tmp/a" sha512)
assert_eq 135 "${#DA}" "test bug: sha512 digest length"

# --- POST then PUT
push_blob "$REPO" "$WORK/tmp/a" "$DA"
assert_digest_header_of "$WORK/tmp/a"
req GET "/v2/$REPO/blobs/$DA"
assert_status 200
assert_body_file "$WORK/tmp/a"
assert_digest_header_of "$WORK/tmp/a"
req HEAD "/v2/$REPO/blobs/$DA"
assert_status 200
assert_content_length 200000
assert_digest_header_of "$WORK/tmp/a"
req GET "/v2/$REPO/blobs/$DA" -H 'Range: bytes=100-199'
assert_status 206
assert_header Content-Range "bytes 100-199/200000"
slice "$WORK/tmp/a" 100 100 >"$WORK/tmp/slice"
assert_body_file "$WORK/tmp/slice"

# --- single POST
mkblob "$WORK/tmp/b" 3000
DB=$(digest_of "$WORK/tmp/b" sha512)
req POST "/v2/$REPO/blobs/uploads/?digest=$DB" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/b"
if [ "$STATUS" = 202 ] && ! is_dray; then
	note "single POST answered 202; finishing with PUT"
	req PUT "$(with_query "$(abs_url "$(hdr Location)")" "digest=$DB")" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/b"
fi
assert_status 201
assert_digest_header_of "$WORK/tmp/b"
req GET "/v2/$REPO/blobs/$DB"
assert_status 200
assert_body_file "$WORK/tmp/b"

# --- chunked, algorithm named up front (v1.1.1 end-4c) and not
for post in "/v2/$REPO/blobs/uploads/?digest-algorithm=sha512" "/v2/$REPO/blobs/uploads/"; do
	mkblob "$WORK/tmp/c" 150001
	DC=$(digest_of "$WORK/tmp/c" sha512)
	req POST "$post"
	assert_status 202
	LOC=$(hdr Location)
	slice "$WORK/tmp/c" 0 100000 >"$WORK/tmp/c1"
	slice "$WORK/tmp/c" 100000 50001 >"$WORK/tmp/c2"
	req PATCH "$(abs_url "$LOC")" -H 'Content-Range: 0-99999' \
		-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/c1"
	assert_status 202
	LOC=$(hdr Location)
	req PATCH "$(abs_url "$LOC")" -H 'Content-Range: 100000-150000' \
		-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/c2"
	assert_status 202
	LOC=$(hdr Location)
	req PUT "$(with_query "$(abs_url "$LOC")" "digest=$DC")"
	assert_status 201
	assert_digest_header_of "$WORK/tmp/c"
	req GET "/v2/$REPO/blobs/$DC"
	assert_status 200
	assert_body_file "$WORK/tmp/c"
done

# --- the same content under both algorithms is two blobs, both pullable
push_blob "$REPO" "$WORK/tmp/a"
D256=$BLOB_DIGEST
req GET "/v2/$REPO/blobs/$D256"
assert_status 200
assert_body_file "$WORK/tmp/a"
req GET "/v2/$REPO/blobs/$DA"
assert_status 200

# --- a wrong sha512: DIGEST_INVALID, nothing stored
mkblob "$WORK/tmp/w" 1000
WRONG=sha512:$(printf 'other' | sha512sum | cut -d' ' -f1)
req POST "/v2/$REPO/blobs/uploads/"
LOC=$(hdr Location)
req PUT "$(with_query "$(abs_url "$LOC")" "digest=$WRONG")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/w"
assert_error 400 DIGEST_INVALID
req HEAD "/v2/$REPO/blobs/$WRONG"
assert_status 404
req HEAD "/v2/$REPO/blobs/$(digest_of "$WORK/tmp/w" sha512)"
assert_status 404
# A sha512 with a sha256-sized hex part is malformed.
req POST "/v2/$REPO/blobs/uploads/"
LOC=$(hdr Location)
req PUT "$(with_query "$(abs_url "$LOC")" "digest=sha512:$(sha256sum <"$WORK/tmp/w" | cut -d' ' -f1)")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/w"
assert_error 400 DIGEST_INVALID

# --- mount by sha512
req POST "/v2/s512/other/blobs/uploads/?mount=$DA&from=$REPO"
assert_status 201
assert_digest_header_of "$WORK/tmp/a"
req GET "/v2/s512/other/blobs/$DA"
assert_status 200
assert_body_file "$WORK/tmp/a"

# --- a manifest whose config and layer are sha512 blobs
mkconfig "$WORK/tmp/config" "$WORK/tmp/a"
DCFG=$(digest_of "$WORK/tmp/config" sha512)
push_blob "$REPO" "$WORK/tmp/config" "$DCFG"
mkmanifest "$WORK/tmp/m" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/config" sha512)" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/a" sha512)"
push_manifest "$REPO" v1 "$WORK/tmp/m" "$MT_OCI_MANIFEST"
M256=$MANIFEST_DIGEST
req GET "/v2/$REPO/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
assert_body_file "$WORK/tmp/m"

# --- the manifest pushed by its sha512 digest
M512=$(digest_of "$WORK/tmp/m" sha512)
push_manifest "$REPO" "$M512" "$WORK/tmp/m" "$MT_OCI_MANIFEST"
assert_header Docker-Content-Digest "$M512"
req GET "/v2/$REPO/manifests/$M512" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
assert_body_file "$WORK/tmp/m"
assert_header Docker-Content-Digest "$M512"
req HEAD "/v2/$REPO/manifests/$M512" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
assert_header Docker-Content-Digest "$M512"
assert_content_length "$(filesize "$WORK/tmp/m")"
# A wrong sha512 manifest digest is refused.
req PUT "/v2/$REPO/manifests/$WRONG" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$WORK/tmp/m"
assert_error 400 DIGEST_INVALID

# --- delete by sha512
req DELETE "/v2/$REPO/blobs/$DB"
assert_status 202
req GET "/v2/$REPO/blobs/$DB"
assert_error 404 BLOB_UNKNOWN

if dray_only "sha512 blobs in the layout"; then
	check_layout "$WORK/data/$REPO"
	check_layout "$WORK/data/s512/other"
	assert_true "blobs/sha512/<hex> holds the blob" \
		cmp -s "$WORK/tmp/a" "$WORK/data/$REPO/blobs/sha512/${DA#sha512:}"
	assert_true "manifest pushed by sha512 stored under blobs/sha512" \
		cmp -s "$WORK/tmp/m" "$WORK/data/$REPO/blobs/sha512/${M512#sha512:}"
fi

# Everything survives a restart.
dray_stop
dray_start
req GET "/v2/$REPO/manifests/$M512" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
assert_body_file "$WORK/tmp/m"
req GET "/v2/$REPO/blobs/$DA"
assert_status 200
assert_body_file "$WORK/tmp/a"
dray_stop
pass
