#!/bin/bash
# api-mount.sh - "Mounting a blob from another repository" (end-11):
# POST ?mount=<digest>&from=<repo> answers 201 with Location and
# Docker-Content-Digest when the blob exists in <repo>, and 202 with an
# upload session otherwise (unknown blob, unknown source repository); a
# mounted blob is pullable and usable by a manifest in the target, and
# stays when the source deletes its copy.
. "$(dirname "$0")/../lib.sh"

dray_start

mkblob "$WORK/tmp/blob" 250000
D=$(digest_of "$WORK/tmp/blob")
push_blob mnt/src "$WORK/tmp/blob"

# --- mount of a present blob: 201
req POST "/v2/mnt/dst/blobs/uploads/?mount=$D&from=mnt/src"
assert_status 201
assert_header_present Location
assert_header Docker-Content-Digest "$D"
req GET "$(hdr Location)"
assert_status 200
assert_body_file "$WORK/tmp/blob"
req HEAD "/v2/mnt/dst/blobs/$D"
assert_status 200
assert_content_length 250000

# Mounting again is harmless.
req POST "/v2/mnt/dst/blobs/uploads/?mount=$D&from=mnt/src"
assert_status 201

# A manifest in the target can reference the mounted blob; its config is
# mounted the same way.
mkconfig "$WORK/tmp/config" "$WORK/tmp/blob"
push_blob mnt/src "$WORK/tmp/config"
C=$BLOB_DIGEST
req POST "/v2/mnt/dst/blobs/uploads/?mount=$C&from=mnt/src"
assert_status 201
mkmanifest "$WORK/tmp/manifest" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/config")" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/blob")"
push_manifest mnt/dst v1 "$WORK/tmp/manifest" "$MT_OCI_MANIFEST"

# --- a nested target repository that does not exist yet
req POST "/v2/mnt/deep/er/dst/blobs/uploads/?mount=$D&from=mnt/src"
assert_status 201
req GET "/v2/mnt/deep/er/dst/blobs/$D"
assert_status 200
assert_body_file "$WORK/tmp/blob"

# --- unknown blob: 202 and a usable upload session
mkblob "$WORK/tmp/other" 3000
DO=$(digest_of "$WORK/tmp/other")
req POST "/v2/mnt/dst/blobs/uploads/?mount=$DO&from=mnt/src"
assert_status 202
assert_header_present Location
req PUT "$(with_query "$(abs_url "$(hdr Location)")" "digest=$DO")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/other"
assert_status 201
req GET "/v2/mnt/dst/blobs/$DO"
assert_status 200
assert_body_file "$WORK/tmp/other"

# --- unknown source repository: 202 (or 201 if the registry found the
# blob elsewhere: "MAY cross-mount the blob if it can be found").
mkblob "$WORK/tmp/third" 999
DT=$(digest_of "$WORK/tmp/third")
req POST "/v2/mnt/dst2/blobs/uploads/?mount=$DT&from=mnt/nosuchrepo"
assert_status 202
assert_header_present Location
req DELETE "$(abs_url "$(hdr Location)")"
assert_status 204

# --- a blob not in the source is not taken from a third repository the
# caller did not name... unless the registry chooses to (MAY): only the
# result is checked, it must be consistent.
req POST "/v2/mnt/dst3/blobs/uploads/?mount=$DO&from=mnt/src"
assert_status 201 202
if [ "$STATUS" = 201 ]; then
	req GET "/v2/mnt/dst3/blobs/$DO"
	assert_status 200
	assert_body_file "$WORK/tmp/other"
fi

# --- no from=: "The registry MAY treat the from parameter as optional"
req POST "/v2/mnt/dst4/blobs/uploads/?mount=$D"
assert_status 201 202
if [ "$STATUS" = 201 ]; then
	req GET "/v2/mnt/dst4/blobs/$D"
	assert_status 200
	assert_body_file "$WORK/tmp/blob"
else
	assert_header_present Location
fi

# --- the mounted copy is independent of the source's
req DELETE "/v2/mnt/src/blobs/$D"
assert_status 202
req GET "/v2/mnt/src/blobs/$D"
assert_error 404 BLOB_UNKNOWN
req GET "/v2/mnt/dst/blobs/$D"
assert_status 200
assert_body_file "$WORK/tmp/blob"
req GET "/v2/mnt/dst/manifests/v1" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_body_file "$WORK/tmp/manifest"

if dray_only "mounted blob stored in the target layout"; then
	check_layout "$WORK/data/mnt/dst"
	check_layout "$WORK/data/mnt/deep/er/dst"
	assert_true "mounted blob file in the target layout" \
		cmp -s "$WORK/tmp/blob" "$WORK/data/mnt/dst/blobs/sha256/${D#sha256:}"
fi

dray_stop
pass
