#!/bin/bash
# api-pull.sh - the Pull category: end-2 and end-3, GET and HEAD of
# manifests (by tag and by digest) and blobs, with the headers the spec
# requires (Docker-Content-Digest, Content-Length, Content-Type), byte
# ranges on blobs (RFC 9110 section 14), 404s with the right error codes,
# and repository scoping of blobs and manifests.
. "$(dirname "$0")/../lib.sh"

dray_start

REPO=pull/img
push_image "$REPO" v1 2 300000
MDIG=$MANIFEST_DIGEST
MLOC=$MANIFEST_LOCATION
MFILE=$IMG_DIR/manifest.json
MSIZE=$(filesize "$MFILE")
L0=${IMG_LAYERS[0]}
L0FILE=$IMG_DIR/layer0
SIZE=$(filesize "$L0FILE")

# --- manifests (Pulling manifests; Checking if content exists)
for ref in v1 "$MDIG"; do
	req GET "/v2/$REPO/manifests/$ref" -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
	assert_body_file "$MFILE"
	assert_header Docker-Content-Digest "$MDIG"
	assert_content_type "$MT_OCI_MANIFEST"
	assert_content_length "$MSIZE"

	req HEAD "/v2/$REPO/manifests/$ref" -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
	assert_header Docker-Content-Digest "$MDIG"
	assert_content_length "$MSIZE"
	assert_content_type "$MT_OCI_MANIFEST"
done

# The PUT's Location "is a pullable manifest URL".
req GET "$MLOC" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
assert_body_file "$MFILE"

# An Accept list naming several types, the pushed one among them.
req GET "/v2/$REPO/manifests/v1" \
	-H "Accept: $MT_DOCKER_MANIFEST, $MT_OCI_INDEX, $MT_OCI_MANIFEST"
assert_status 200
assert_body_file "$MFILE"
assert_content_type "$MT_OCI_MANIFEST"

# --- blobs (Pulling blobs)
for i in 0 1; do
	f=$IMG_DIR/layer$i
	d=${IMG_LAYERS[$i]}
	req GET "/v2/$REPO/blobs/$d"
	assert_status 200
	assert_body_file "$f"
	assert_header Docker-Content-Digest "$d"
	assert_content_length "$(filesize "$f")"
	if dray_only "X-Content-Type-Options on a blob"; then
		assert_header X-Content-Type-Options nosniff
	fi

	req HEAD "/v2/$REPO/blobs/$d"
	assert_status 200
	assert_header Docker-Content-Digest "$d"
	assert_content_length "$(filesize "$f")"
done
req GET "/v2/$REPO/blobs/$IMG_CONFIG"
assert_status 200
assert_body_file "$IMG_DIR/config.json"
assert_header Docker-Content-Digest "$IMG_CONFIG"

# --- ranges: "A registry SHOULD support the Range request header in
# accordance with RFC 9110 (section 14)"; the contract makes it a must.
check_range() { # check_range RANGE FIRST LAST
	req GET "/v2/$REPO/blobs/$L0" -H "Range: bytes=$1"
	assert_status 206
	assert_header Content-Range "bytes $2-$3/$SIZE"
	assert_content_length $(($3 - $2 + 1))
	slice "$L0FILE" "$2" $(($3 - $2 + 1)) >"$WORK/tmp/slice"
	assert_body_file "$WORK/tmp/slice"
}
check_range 0-99 0 99
check_range 1000-1000 1000 1000
check_range 4096- 4096 $((SIZE - 1))
check_range -50 $((SIZE - 50)) $((SIZE - 1))
check_range "$((SIZE - 10))-$((SIZE + 5000))" $((SIZE - 10)) $((SIZE - 1))
check_range "0-$((SIZE - 1))" 0 $((SIZE - 1))

# First position at or past the end: 416, Content-Range "bytes */size".
for r in "$SIZE-" "$((SIZE + 100))-$((SIZE + 200))"; do
	req GET "/v2/$REPO/blobs/$L0" -H "Range: bytes=$r"
	assert_status 416
	assert_header Content-Range "bytes */$SIZE"
done

# A range unit the server does not know MUST be ignored: full 200.
req GET "/v2/$REPO/blobs/$L0" -H "Range: items=0-5"
assert_status 200
assert_body_file "$L0FILE"

# --- not found (404 with the matching error code)
req GET "/v2/$REPO/manifests/nosuchtag"
assert_error 404 MANIFEST_UNKNOWN
req HEAD "/v2/$REPO/manifests/nosuchtag"
assert_status 404
req GET "/v2/$REPO/manifests/sha256:$(printf '%064d' 0)"
assert_error 404 MANIFEST_UNKNOWN
req GET "/v2/$REPO/blobs/sha256:$(printf '%064d' 1)"
assert_error 404 BLOB_UNKNOWN
req HEAD "/v2/$REPO/blobs/sha256:$(printf '%064d' 1)"
assert_status 404
assert_body_empty

# A layer is a blob, not a manifest: the manifests endpoint must not
# serve it even though both live in the same content store.
req GET "/v2/$REPO/manifests/$L0"
assert_error 404 MANIFEST_UNKNOWN

# --- repository scoping: content of one repository is not visible
# through another one.
push_image pull/other v1 1 1000
req GET "/v2/pull/other/blobs/$L0"
assert_error 404 BLOB_UNKNOWN
req HEAD "/v2/pull/other/blobs/$L0"
assert_status 404
req GET "/v2/pull/other/manifests/$MDIG"
assert_error 404 MANIFEST_UNKNOWN

# --- unknown repository: 404 NAME_UNKNOWN
req GET "/v2/pull/nonexistent/manifests/v1"
assert_error 404 NAME_UNKNOWN
req GET "/v2/pull/nonexistent/blobs/$L0"
assert_error 404 NAME_UNKNOWN BLOB_UNKNOWN

dray_stop
pass
