#!/bin/bash
# api-delete.sh - Content Management (end-9, end-10): deleting a tag
# (202; the manifest and other tags stay), deleting a manifest by digest
# (202; its tags go with it), deleting blobs (202, then 404 BLOB_UNKNOWN),
# repeated deletes and unknown references (404 with the right code), an
# unknown repository (404), and (dray only) that index.json and blobs/
# follow, leaving valid layouts.
. "$(dirname "$0")/../lib.sh"

dray_start
REPO=del/app

push_image "$REPO" t1 2 5000
M=$MANIFEST_DIGEST
MFILE=$IMG_DIR/manifest.json
FIRST_DIR=$IMG_DIR
L0=${IMG_LAYERS[0]}
L1=${IMG_LAYERS[1]}
push_manifest "$REPO" t2 "$MFILE" "$MT_OCI_MANIFEST"
push_manifest "$REPO" t3 "$MFILE" "$MT_OCI_MANIFEST"
push_image "$REPO" keep 1 3000
KEEP=$MANIFEST_DIGEST
KEEP_L0=${IMG_LAYERS[0]}

# --- delete a tag: 202; only that tag goes
req DELETE "/v2/$REPO/manifests/t1"
assert_status 202
req GET "/v2/$REPO/manifests/t1" -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 MANIFEST_UNKNOWN
req GET "/v2/$REPO/manifests/t2" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_body_file "$MFILE"
req GET "/v2/$REPO/manifests/$M" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
req GET "/v2/$REPO/tags/list"
assert_status 200
assert_json '(.tags | sort) == ["keep", "t2", "t3"]' "t1 no longer listed"
req DELETE "/v2/$REPO/manifests/t1"
assert_error 404 MANIFEST_UNKNOWN
req DELETE "/v2/$REPO/manifests/nosuchtag"
assert_error 404 MANIFEST_UNKNOWN

if dray_only "tag deletion in index.json"; then
	check_layout "$WORK/data/$REPO"
	assert_eq "$(printf 'keep\nt2\nt3')" "$(layout_tags "$WORK/data/$REPO")" \
		"index.json tags after deleting t1"
fi

# --- delete the manifest by digest: 202; its remaining tags go too
req DELETE "/v2/$REPO/manifests/$M"
assert_status 202
req GET "/v2/$REPO/manifests/$M" -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 MANIFEST_UNKNOWN
req HEAD "/v2/$REPO/manifests/$M" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 404
for t in t2 t3; do
	req GET "/v2/$REPO/manifests/$t" -H "Accept: $ACCEPT_MANIFESTS"
	assert_error 404 MANIFEST_UNKNOWN
done
req GET "/v2/$REPO/tags/list"
assert_status 200
assert_json '.tags == ["keep"]' "only the other image's tag is left"
req GET "/v2/$REPO/manifests/keep" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$KEEP"
req DELETE "/v2/$REPO/manifests/$M"
assert_error 404 MANIFEST_UNKNOWN

# The manifest can be pushed again afterwards.
push_manifest "$REPO" again "$MFILE" "$MT_OCI_MANIFEST"
req GET "/v2/$REPO/manifests/again" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
req DELETE "/v2/$REPO/manifests/$M"
assert_status 202

# --- delete blobs: 202, then 404 BLOB_UNKNOWN
req DELETE "/v2/$REPO/blobs/$L0"
assert_status 202
req GET "/v2/$REPO/blobs/$L0"
assert_error 404 BLOB_UNKNOWN
req HEAD "/v2/$REPO/blobs/$L0"
assert_status 404
req DELETE "/v2/$REPO/blobs/$L0"
assert_error 404 BLOB_UNKNOWN
req GET "/v2/$REPO/blobs/$L1"
assert_status 200
req DELETE "/v2/$REPO/blobs/sha256:$(printf '%064d' 3)"
assert_error 404 BLOB_UNKNOWN

# A deleted blob can be pushed again.
push_blob "$REPO" "$FIRST_DIR/layer0"
req GET "/v2/$REPO/blobs/$L0"
assert_status 200

# --- the same blob in two repositories: deleting one copy keeps the other
mkblob "$WORK/tmp/shared" 7777
push_blob del/a "$WORK/tmp/shared"
push_blob del/b "$WORK/tmp/shared"
DS=$BLOB_DIGEST
req DELETE "/v2/del/a/blobs/$DS"
assert_status 202
req GET "/v2/del/a/blobs/$DS"
assert_error 404 BLOB_UNKNOWN
req GET "/v2/del/b/blobs/$DS"
assert_status 200
assert_body_file "$WORK/tmp/shared"

# --- a blob a manifest still references: dray refuses, with the spec's
# 405 ("deletion not allowed") and an OCI error body that says why (it
# answered 409, which the spec does not list here); the blob stays.
if dray_only "refusing to delete a referenced blob"; then
	req DELETE "/v2/$REPO/blobs/$KEEP_L0"
	assert_error 405 DENIED
	assert_json '.errors[0].message | test("referenced")' "says why"
	assert_header_present Allow
	req GET "/v2/$REPO/blobs/$KEEP_L0"
	assert_status 200
fi

# --- unknown repository: 404
req DELETE "/v2/del/nosuchrepo/manifests/$M"
assert_status 404
assert_json_error_code NAME_UNKNOWN MANIFEST_UNKNOWN
req DELETE "/v2/del/nosuchrepo/manifests/latest"
assert_status 404
req DELETE "/v2/del/nosuchrepo/blobs/$DS"
assert_status 404
assert_json_error_code NAME_UNKNOWN BLOB_UNKNOWN

if dray_only "layouts after deletes"; then
	check_layout "$WORK/data/$REPO"
	check_layout "$WORK/data/del/a"
	check_layout "$WORK/data/del/b"
	assert_eq keep "$(layout_tags "$WORK/data/$REPO")" "index.json tags at the end"
	assert_eq 0 "$(jq --arg d "$M" '[.manifests[] | select(.digest == $d)] | length' \
		"$WORK/data/$REPO/index.json")" "deleted manifest gone from index.json"
	assert_true "deleted blob file gone from del/a" \
		[ ! -e "$WORK/data/del/a/blobs/sha256/${DS#sha256:}" ]
	assert_true "blob file kept in del/b" \
		cmp -s "$WORK/tmp/shared" "$WORK/data/del/b/blobs/sha256/${DS#sha256:}"
fi

# Deletions survive a restart.
dray_stop
dray_start
req GET "/v2/$REPO/tags/list"
assert_status 200
assert_json '.tags == ["keep"]' "tags after restart"
req GET "/v2/del/a/blobs/$DS"
assert_status 404
req GET "/v2/$REPO/manifests/$M" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 404
dray_stop
pass
