#!/bin/bash
# api-spec.sh - the endpoint table of the distribution-spec (spec.md,
# "Endpoints" end-1 .. end-14, and the text of each section), row by row:
# every answer's status is the one the case expects AND one the spec
# allows for that endpoint (ALLOWED below), with the headers the spec
# requires on it; every 4xx body is the spec's
# {"errors":[{"code","message","detail"}]} with the spec's codes. Also:
# tags and catalog pagination (n, last, Link), Range on blob GET, HEAD,
# OCI-Subject, chunk ranges (416), mount with and without `from`, the
# monolithic POST, 405 with an Allow header naming the resource's methods
# (RFC 9110), 429 with Retry-After. Where dray deliberately answers a
# status the endpoint's row does not list, ALLOWED says so and README.md
# ("Deviations from the distribution-spec") says why.
. "$(dirname "$0")/../lib.sh"

require_dray
# Two sessions per repository, so that 429 is reachable cheaply.
dray_start_cfg "maxUploadSessionsPerRepo: 2"

# The statuses each endpoint may answer: the row's Success and Failure
# columns, plus what the spec's text adds (cited), plus dray's deliberate
# deviations (marked "dev", see README.md).
declare -A ALLOWED=(
	[end-1]="200 404 401"
	# 206/416: "SHOULD support the Range request header in accordance
	# with RFC 9110".
	[end-2]="200 404 206 416"
	[end-3]="200 404"
	# 400: the POST of end-4b/4c (same URL); 429: TOOMANYREQUESTS.
	[end-4a]="202 404 400 429"
	[end-4b]="201 202 404 400"
	[end-4c]="201 202 404 400"
	[end-5]="202 404 416"
	[end-6]="201 404 400 416"
	# 400: the conformance suite expects it for a digest the body does
	# not have (and MANIFEST_INVALID, MANIFEST_BLOB_UNKNOWN).
	[end-7a]="201 404 413 400"
	# 400 (dev): a malformed n.
	[end-8a]="200 404"
	[end-8b]="200 404 400"
	[end-9]="202 404 400 405"
	[end-10]="202 404 400 405"
	[end-11]="201 202 404"
	[end-12a]="200 404 400"
	[end-12b]="200 404 400"
	[end-13]="204 404"
	[end-14]="204 404 400"
	# Any endpoint: a method it does not have (RFC 9110).
	[any]="405"
)

# row ID STATUS METHOD TARGET [curl args...]: one request of endpoint ID,
# answered STATUS, which the spec allows for ID; a 4xx body (not HEAD) is
# a spec error body.
row() {
	local id=$1 want=$2 method=$3 target=$4
	shift 4
	ASSERTS=$((ASSERTS + 1))
	[[ " ${ALLOWED[$id]} " == *" $want "* ]] ||
		fail "test bug: $want is not allowed for $id (${ALLOWED[$id]})"
	req "$method" "$target" "$@"
	assert_status "$want"
	if [ "$want" -ge 400 ] && [ "$want" -lt 500 ] && [ "$method" != HEAD ]; then
		assert_content_type application/json
		# One jq for the whole body, to keep the case fast.
		ASSERTS=$((ASSERTS + 1))
		jq -e --arg codes " $(echo $SPEC_ERROR_CODES) " '
			(.errors | type == "array" and length > 0) and
			all(.errors[]; has("code") and has("message") and
				has("detail") and
				(.code | type == "string") and
				(.code as $c | $codes | contains(" " + $c + " ")))' \
			"$RESP/body" >/dev/null 2>&1 ||
			fail "not the spec's error body: $(head -c 300 "$RESP/body")"
	fi
}

# need HEADER...: each is on the last response.
need() {
	local h
	for h in "$@"; do
		assert_header_present "$h"
	done
}

# code CODE: the error body's (first) code.
code() {
	assert_eq "$1" "$(jq -r '.errors[0].code' "$RESP/body")" "error code"
}

R=spec/r
ZERO=sha256:$(printf '%064d' 0)
push_image "$R" v1 1 1000
IMG=$IMG_DIR
M=$MANIFEST_DIGEST
L=${IMG_LAYERS[0]}

# ------------------------------------------------------------- end-1
row end-1 200 GET /v2/
need Docker-Distribution-API-Version
row end-1 200 HEAD /v2/

# ------------------------------------------------------------- end-2
row end-2 200 GET "/v2/$R/blobs/$L"
need Docker-Content-Digest Content-Length
assert_header Docker-Content-Digest "$L"
assert_body_file "$IMG/layer0"
row end-2 200 HEAD "/v2/$R/blobs/$L"
need Docker-Content-Digest
assert_content_length 1000
row end-2 206 GET "/v2/$R/blobs/$L" -H 'Range: bytes=10-19'
assert_header Content-Range "bytes 10-19/1000"
assert_content_length 10
row end-2 416 GET "/v2/$R/blobs/$L" -H 'Range: bytes=1000-'
assert_header Content-Range "bytes */1000"
row end-2 404 GET "/v2/$R/blobs/$ZERO"
code BLOB_UNKNOWN
row end-2 404 HEAD "/v2/$R/blobs/$ZERO"
row end-2 404 GET "/v2/no/such/blobs/$L"
code NAME_UNKNOWN
# A malformed digest or name names nothing: "If the blob is not found in
# the repository, the response code MUST be 404" (dray answered 400).
row end-2 404 GET "/v2/$R/blobs/sha256:xyz"
row end-2 404 HEAD "/v2/$R/blobs/md5:abc"
row end-2 404 GET "/v2/Spec/R/blobs/$L"

# ------------------------------------------------------------- end-3
row end-3 200 GET "/v2/$R/manifests/v1" -H "Accept: $ACCEPT_MANIFESTS"
need Docker-Content-Digest Content-Length
assert_content_type "$MT_OCI_MANIFEST"
assert_header Docker-Content-Digest "$M"
row end-3 200 GET "/v2/$R/manifests/$M" -H "Accept: $ACCEPT_MANIFESTS"
assert_header Docker-Content-Digest "$M"
row end-3 200 HEAD "/v2/$R/manifests/v1" -H "Accept: $ACCEPT_MANIFESTS"
need Docker-Content-Digest
assert_content_length "$(filesize "$IMG/manifest.json")"
assert_content_type "$MT_OCI_MANIFEST"
row end-3 404 GET "/v2/$R/manifests/nosuch"
code MANIFEST_UNKNOWN
row end-3 404 HEAD "/v2/$R/manifests/$ZERO"
row end-3 404 GET "/v2/no/such/manifests/v1"
code NAME_UNKNOWN
row end-3 404 GET "/v2/$R/manifests/sha256:baddigeststring"
row end-3 404 HEAD "/v2/$R/manifests/sha256:baddigeststring"
row end-3 404 GET "/v2/$R/manifests/-notatag"
row end-3 404 GET "/v2/Spec/R/manifests/v1"

# ------------------------------------------- end-4a, end-13, end-5, end-6
row end-4a 202 POST "/v2/$R/blobs/uploads/"
need Location
LOC=$(hdr Location)
row end-13 204 GET "$LOC"
need Location Range
mkblob "$WORK/tmp/chunked" 30
slice "$WORK/tmp/chunked" 0 10 >"$WORK/tmp/c1"
slice "$WORK/tmp/chunked" 10 10 >"$WORK/tmp/c2"
slice "$WORK/tmp/chunked" 20 10 >"$WORK/tmp/c3"
CD=$(digest_of "$WORK/tmp/chunked")
row end-5 202 PATCH "$LOC" -H 'Content-Type: application/octet-stream' \
	-H 'Content-Range: 0-9' --data-binary "@$WORK/tmp/c1"
need Location
assert_header Range 0-9
LOC=$(hdr Location)
row end-13 204 GET "$LOC"
need Location
assert_header Range 0-9
# Out of order: "MUST respond with a 416" (with where the upload stands).
row end-5 416 PATCH "$LOC" -H 'Content-Type: application/octet-stream' \
	-H 'Content-Range: 15-24' --data-binary "@$WORK/tmp/c2"
code BLOB_UPLOAD_INVALID
assert_header Range 0-9
# A chunk whose length is not its range: end-5 lists 404 and 416 only
# (dray answered 400).
row end-5 416 PATCH "$LOC" -H 'Content-Type: application/octet-stream' \
	-H 'Content-Range: 10-29' --data-binary "@$WORK/tmp/c2"
code BLOB_UPLOAD_INVALID
row end-5 416 PATCH "$LOC" -H 'Content-Type: application/octet-stream' \
	-H 'Content-Range: 10-12' --data-binary "@$WORK/tmp/c2"
row end-13 204 GET "$LOC"
assert_header Range 0-9
row end-5 202 PATCH "$LOC" -H 'Content-Type: application/octet-stream' \
	-H 'Content-Range: 10-19' --data-binary "@$WORK/tmp/c2"
assert_header Range 0-19
LOC=$(hdr Location)
# The final chunk out of order on the closing PUT: 416.
row end-6 416 PUT "$(with_query "$LOC" "digest=$CD")" \
	-H 'Content-Type: application/octet-stream' -H 'Content-Range: 21-30' \
	--data-binary "@$WORK/tmp/c3"
row end-6 400 PUT "$LOC" -H 'Content-Type: application/octet-stream' \
	-H 'Content-Range: 20-29' --data-binary "@$WORK/tmp/c3"
code DIGEST_INVALID
row end-6 201 PUT "$(with_query "$LOC" "digest=$CD")" \
	-H 'Content-Type: application/octet-stream' -H 'Content-Range: 20-29' \
	--data-binary "@$WORK/tmp/c3"
need Location Docker-Content-Digest
assert_header Docker-Content-Digest "$CD"
row end-2 200 GET "$(hdr Location)"
assert_body_file "$WORK/tmp/chunked"
# The session is over.
row end-13 404 GET "$LOC"
code BLOB_UPLOAD_UNKNOWN
row end-5 404 PATCH "$LOC" -H 'Content-Range: 30-30' --data-binary x
row end-6 404 PUT "$(with_query "$LOC" "digest=$CD")"
row end-14 404 DELETE "$LOC"
# An upload URL under a name no repository can have names no session
# (dray answered PATCH there 400).
row end-5 404 PATCH "/v2/Spec/R/blobs/uploads/abc" -H 'Content-Range: 0-0' \
	--data-binary x
code BLOB_UPLOAD_UNKNOWN
row end-13 404 GET "/v2/Spec/R/blobs/uploads/abc"

# POST then PUT with a wrong digest: 400 DIGEST_INVALID.
row end-4a 202 POST "/v2/$R/blobs/uploads/"
LOC=$(hdr Location)
row end-6 400 PUT "$(with_query "$LOC" "digest=$ZERO")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/c1"
code DIGEST_INVALID
row end-14 204 DELETE "$LOC"

# A POST with a body but no ?digest=: the body is the first chunk, and
# the Range says so (dray answered "0-0" after 3 bytes).
row end-4a 202 POST "/v2/$R/blobs/uploads/" \
	-H 'Content-Type: application/octet-stream' --data-binary abc
LOC=$(hdr Location)
assert_header Range 0-2
row end-13 204 GET "$LOC"
assert_header Range 0-2
row end-14 204 DELETE "$LOC"

# --------------------------------------------------------- end-4b, end-4c
mkblob "$WORK/tmp/mono" 777
MD=$(digest_of "$WORK/tmp/mono")
row end-4b 201 POST "/v2/$R/blobs/uploads/?digest=$MD" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/mono"
need Location Docker-Content-Digest
assert_header Docker-Content-Digest "$MD"
row end-2 200 GET "$(hdr Location)"
assert_body_file "$WORK/tmp/mono"
row end-4b 400 POST "/v2/$R/blobs/uploads/?digest=$ZERO" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/mono"
code DIGEST_INVALID
row end-4b 400 POST "/v2/$R/blobs/uploads/?digest=sha256:xyz" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/mono"
code DIGEST_INVALID
row end-4c 202 POST "/v2/$R/blobs/uploads/?digest-algorithm=sha512"
need Location
LOC=$(hdr Location)
D512=$(digest_of "$WORK/tmp/mono" sha512)
row end-6 201 PUT "$(with_query "$LOC" "digest=$D512")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/mono"
need Location
# "uses an unsupported algorithm, the registry SHOULD respond with ...
# 400" (dray ignored the parameter and answered 202).
row end-4c 400 POST "/v2/$R/blobs/uploads/?digest-algorithm=md5"
code DIGEST_INVALID

# ------------------------------------------------------------- end-11
row end-11 201 POST "/v2/spec/m1/blobs/uploads/?mount=$L&from=$R"
need Location Docker-Content-Digest
assert_header Docker-Content-Digest "$L"
row end-2 200 HEAD "/v2/spec/m1/blobs/$L"
# Not mountable: "it SHOULD return a 202" (an upload session).
row end-11 202 POST "/v2/spec/m2/blobs/uploads/?mount=$L"
need Location
row end-14 204 DELETE "$(hdr Location)"
row end-11 202 POST "/v2/spec/m2/blobs/uploads/?mount=$ZERO&from=$R"
need Location
row end-14 204 DELETE "$(hdr Location)"
row end-11 202 POST "/v2/spec/m2/blobs/uploads/?mount=$L&from=no/such"
row end-14 204 DELETE "$(hdr Location)"
# A malformed digest cannot be mounted either (dray answered 400).
row end-11 202 POST "/v2/spec/m2/blobs/uploads/?mount=sha256:xyz&from=$R"
need Location
row end-14 204 DELETE "$(hdr Location)"

# ---------------------------------------------------------- end-7 (a)
mkblob "$WORK/tmp/sub" 10
push_blob "$R" "$WORK/tmp/sub"
mkmanifest "$WORK/tmp/referrer" "$(desc "$MT_OCI_CONFIG" "$IMG/config.json")" \
	-- "$(jq -cn --arg d "$M" --argjson s "$(filesize "$IMG/manifest.json")" \
		'{artifactType: "application/vnd.dray.test", subject:
		  {mediaType: "application/vnd.oci.image.manifest.v1+json",
		   digest: $d, size: $s}}')"
row end-7a 201 PUT "/v2/$R/manifests/$(digest_of "$WORK/tmp/referrer")" \
	-H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$WORK/tmp/referrer"
need Location Docker-Content-Digest
assert_header OCI-Subject "$M"
REF=$(digest_of "$WORK/tmp/referrer")
row end-7a 201 PUT "/v2/$R/manifests/v2" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$IMG/manifest.json"
need Location Docker-Content-Digest
assert_header Docker-Content-Digest "$M"
assert_header_absent OCI-Subject
row end-7a 400 PUT "/v2/$R/manifests/$ZERO" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$IMG/manifest.json"
code DIGEST_INVALID
row end-7a 400 PUT "/v2/$R/manifests/x" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary '{"schemaVersion":2}'
code MANIFEST_INVALID
jq -c ".layers[0].digest = \"$ZERO\"" "$IMG/manifest.json" >"$WORK/tmp/dangling"
row end-7a 400 PUT "/v2/$R/manifests/x" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$WORK/tmp/dangling"
code MANIFEST_BLOB_UNKNOWN
head -c $((4 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$WORK/tmp/huge"
row end-7a 413 PUT "/v2/$R/manifests/x" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$WORK/tmp/huge"
code SIZE_INVALID

# ------------------------------------------------------- end-8a, end-8b
for t in v3 v4; do
	push_manifest "$R" "$t" "$IMG/manifest.json" "$MT_OCI_MANIFEST"
done
row end-8a 200 GET "/v2/$R/tags/list"
assert_content_type application/json
assert_json '.name == "spec/r" and .tags == ["v1","v2","v3","v4"]'
row end-8a 200 HEAD "/v2/$R/tags/list"
row end-8a 404 GET "/v2/no/such/tags/list"
code NAME_UNKNOWN
row end-8a 404 GET "/v2/Spec/R/tags/list"
row end-8b 200 GET "/v2/$R/tags/list?n=2"
assert_json '.tags == ["v1","v2"]'
need Link
assert_header_match Link '^<[^>]*[?&]n=2[^>]*>; *rel="next"$'
NEXT=$(hdr Link | sed -E 's/^<([^>]*)>.*/\1/')
row end-8b 200 GET "$NEXT"
assert_json '.tags == ["v3","v4"]'
row end-8b 200 GET "/v2/$R/tags/list?n=2&last=v3"
assert_json '.tags == ["v4"]'
assert_header_absent Link
row end-8b 200 GET "/v2/$R/tags/list?last=v1"
assert_json '.tags == ["v2","v3","v4"]'
# "When n is zero, this endpoint MUST return an empty list, and MUST NOT
# include a Link header."
row end-8b 200 GET "/v2/$R/tags/list?n=0"
assert_json '.tags == []'
assert_header_absent Link
row end-8b 400 GET "/v2/$R/tags/list?n=many"

# ------------------------------------------------------- catalog (no id)
ALLOWED[catalog]="200 400"
row catalog 200 GET "/v2/_catalog?n=1"
assert_json '.repositories | length == 1'
need Link
assert_header_match Link '^<[^>]*>; *rel="next"$'
row catalog 200 GET "/v2/_catalog?n=0"
assert_json '.repositories == []'
assert_header_absent Link
row catalog 200 GET "/v2/_catalog"
assert_json '.repositories == ["spec/m1", "spec/r"]'
assert_header_absent Link

# ----------------------------------------------------- end-12a, end-12b
row end-12a 200 GET "/v2/$R/referrers/$M"
assert_content_type "$MT_OCI_INDEX"
assert_json "[.manifests[].digest] == [\"$REF\"]"
row end-12a 200 GET "/v2/$R/referrers/$ZERO"
assert_json '.manifests == []'
# "MUST NOT return a 404 Not Found to a referrers API requests".
row end-12a 200 GET "/v2/no/such/referrers/$M"
row end-12a 400 GET "/v2/$R/referrers/sha256:xyz"
code DIGEST_INVALID
row end-12b 200 GET "/v2/$R/referrers/$M?artifactType=application/vnd.dray.test"
assert_header OCI-Filters-Applied artifactType
assert_json "[.manifests[].digest] == [\"$REF\"]"

# ------------------------------------------------------- end-9, end-10
row end-10 405 DELETE "/v2/$R/blobs/$L"
code DENIED
# RFC 9110: a 405 names the methods the resource does support.
assert_header Allow "GET, HEAD"
row end-10 404 DELETE "/v2/$R/blobs/$ZERO"
code BLOB_UNKNOWN
row end-10 400 DELETE "/v2/$R/blobs/sha256:xyz"
code DIGEST_INVALID
row end-10 202 DELETE "/v2/$R/blobs/$(digest_of "$WORK/tmp/sub")"
row end-9 202 DELETE "/v2/$R/manifests/v4"
row end-3 404 GET "/v2/$R/manifests/v4"
row end-9 404 DELETE "/v2/$R/manifests/v4"
code MANIFEST_UNKNOWN
row end-9 404 DELETE "/v2/no/such/manifests/v1"
row end-9 202 DELETE "/v2/$R/manifests/$REF"
row end-3 404 GET "/v2/$R/manifests/$REF"

# ------------------------------------------- methods a resource lacks
# 405 with an Allow header listing the resource's own methods (RFC 9110;
# dray named "GET, HEAD" for every resource).
row any 405 PUT "/v2/$R/blobs/$L"
code UNSUPPORTED
assert_header Allow "GET, HEAD, DELETE"
row any 405 POST "/v2/$R/manifests/v1"
assert_header Allow "GET, HEAD, PUT, DELETE"
row any 405 DELETE "/v2/$R/tags/list"
assert_header Allow "GET, HEAD"
row any 405 PATCH "/v2/$R/blobs/uploads/"
assert_header Allow POST
row any 405 POST "/v2/"
assert_header Allow "GET, HEAD"

# ------------------------------------------- 429: TOOMANYREQUESTS
# "A 429 Too Many Requests response ... SHOULD include a Retry-After
# header" (dray sent none).
row end-4a 202 POST "/v2/spec/busy/blobs/uploads/"
row end-4a 202 POST "/v2/spec/busy/blobs/uploads/"
row end-4a 429 POST "/v2/spec/busy/blobs/uploads/"
code TOOMANYREQUESTS
assert_header_match Retry-After '^[0-9]+$'

pass
