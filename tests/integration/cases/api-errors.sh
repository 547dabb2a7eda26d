#!/bin/bash
# api-errors.sh - "Error Codes": every code the contract names, with the
# spec's JSON body ({"errors":[{"code","message","detail"}]}, codes from
# the table). BLOB_UNKNOWN, BLOB_UPLOAD_UNKNOWN, BLOB_UPLOAD_INVALID
# (malformed, negative, overflowing, inconsistent Content-Range: the
# session survives unchanged), DIGEST_INVALID (wrong and malformed digests,
# manifest body not matching its digest: nothing stored), UNSUPPORTED
# (unknown algorithms), MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID,
# MANIFEST_UNKNOWN, NAME_INVALID (uppercase, separators, traversal with
# "..", encoded slashes, leading "/", the internal ".dray"; nothing created
# or read outside the storage root), NAME_UNKNOWN, SIZE_INVALID (manifests
# over 4 MiB: 413; just under 4 MiB is accepted), invalid tags.
. "$(dirname "$0")/../lib.sh"

dray_start
REPO=err/b
push_image "$REPO" good 1 2000
GOOD=$IMG_DIR
GOOD_M=$MANIFEST_DIGEST
CFG_DESC=$(desc "$MT_OCI_CONFIG" "$GOOD/config.json")
L_DESC=$(desc "$MT_OCI_LAYER" "$GOOD/layer0")
ZERO=sha256:$(printf '%064d' 0)

tags_are_only_good() {
	req GET "/v2/$REPO/tags/list"
	assert_status 200
	assert_json '.tags == ["good"]' "${1:-a rejected push must not create a tag}"
}

# ------------------------------------------------------------- BLOB_UNKNOWN
req GET "/v2/$REPO/blobs/$ZERO"
assert_error 404 BLOB_UNKNOWN
req DELETE "/v2/$REPO/blobs/$ZERO"
assert_error 404 BLOB_UNKNOWN

# ------------------------------------------------------ BLOB_UPLOAD_UNKNOWN
req GET "/v2/$REPO/blobs/uploads/nosuchupload"
assert_error 404 BLOB_UPLOAD_UNKNOWN
req PUT "/v2/$REPO/blobs/uploads/nosuchupload?digest=$ZERO"
assert_error 404 BLOB_UPLOAD_UNKNOWN
# An id that is no id ("..", "/" in it, too long) is an unknown session too, for
# every method of the upload URL (dray answered a PUT there with 405).
for id in ../x x/.. "..%2Fx" "$(printf 'a%.0s' {1..300})/x" "$(printf 'a%.0s' {1..300})"; do
	for m in PUT PATCH GET DELETE; do
		body=()
		case $m in
		PUT | PATCH) body=(-H 'Content-Type: application/octet-stream' --data-binary ab) ;;
		esac
		req "$m" "/v2/$REPO/blobs/uploads/$id?digest=$ZERO" "${body[@]}"
		assert_status 404
		if is_dray; then
			assert_json_error_code BLOB_UPLOAD_UNKNOWN
		fi
	done
done

# --------------------------------- BLOB_UPLOAD_INVALID: bad Content-Range
mkblob "$WORK/tmp/blob" 20
D=$(digest_of "$WORK/tmp/blob")
slice "$WORK/tmp/blob" 0 10 >"$WORK/tmp/first"
slice "$WORK/tmp/blob" 10 10 >"$WORK/tmp/rest"
req POST "/v2/$REPO/blobs/uploads/"
LOC=$(hdr Location)
req PATCH "$(abs_url "$LOC")" -H 'Content-Range: 0-9' \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/first"
assert_status 202
LOC=$(hdr Location)
printf 'abcde' >"$WORK/tmp/five"
for cr in "10-4" "-1-3" "10--5" "10-18446744073709551615" \
	"10-99999999999999999999999999" "18446744073709551615-18446744073709551619" \
	"10-14x" "abc" "10-12" "10-30" "bytes=10-14" "10 - 14"; do
	req PATCH "$(abs_url "$LOC")" -H "Content-Range: $cr" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/five"
	# A malformed range is a bad request (400) or an unsatisfiable one
	# (416); never accepted, and the daemon keeps going.
	if [ "$STATUS" = 400 ]; then
		assert_json_error_code BLOB_UPLOAD_INVALID SIZE_INVALID
	else
		assert_status 400 416
	fi
	assert_alive "after Content-Range '$cr'"
	req GET "$(abs_url "$LOC")"
	assert_status 204
	assert_header Range 0-9
	LOC=$(hdr Location)
done
# The session still completes correctly.
req PUT "$(with_query "$(abs_url "$LOC")" "digest=$D")" -H 'Content-Range: 10-19' \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/rest"
assert_status 201
req GET "/v2/$REPO/blobs/$D"
assert_status 200
assert_body_file "$WORK/tmp/blob"

# ----------------------------------------------------------- DIGEST_INVALID
# new_session: POST, leave the location in $LOC
new_session() {
	req POST "/v2/$REPO/blobs/uploads/"
	assert_status 202
	LOC=$(abs_url "$(hdr Location)")
}
mkblob "$WORK/tmp/x" 3333
DX=$(digest_of "$WORK/tmp/x")
DY=sha256:$(printf 'not the content' | sha256sum | cut -d' ' -f1)
new_session
req PUT "$(with_query "$LOC" "digest=$DY")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/x"
assert_error 400 DIGEST_INVALID
req HEAD "/v2/$REPO/blobs/$DY"
assert_status 404
req HEAD "/v2/$REPO/blobs/$DX"
assert_status 404

HEX64=$(printf '%s' "$DX" | cut -d: -f2)
for bad in "sha256:abc" "sha256:${HEX64:0:63}" "sha256:${HEX64}0" \
	"sha256:$(printf '%s' "$HEX64" | tr a-f A-F)" "sha256:" "sha256" ":$HEX64" \
	"sha256:../../../../../../etc/passwd" "sha256%3A$HEX64%2F.." "$HEX64"; do
	new_session
	req PUT "$(with_query "$LOC" "digest=$bad")" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/x"
	assert_error 400 DIGEST_INVALID
done
# No digest at all on the closing PUT.
new_session
req PUT "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/x"
assert_error 400 DIGEST_INVALID BLOB_UPLOAD_INVALID
# Algorithms that are not registered in the image-spec.
for bad in "md5:$(md5sum <"$WORK/tmp/x" | cut -d' ' -f1)" "foo:bar"; do
	new_session
	req PUT "$(with_query "$LOC" "digest=$bad")" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/x"
	assert_error 400 DIGEST_INVALID UNSUPPORTED
done
req HEAD "/v2/$REPO/blobs/$DX"
assert_status 404
# sha384 is well-formed but not one dray implements: "if the client
# provided digest ... uses an unsupported algorithm, the registry SHOULD
# respond with a response code 400" (v1.1.1). A registry that supports it
# may accept (Distribution does).
new_session
req PUT "$(with_query "$LOC" "digest=sha384:$(sha384sum <"$WORK/tmp/x" | cut -d' ' -f1)")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/x"
if is_dray; then
	assert_error 400 DIGEST_INVALID UNSUPPORTED
else
	assert_status 201 400
fi

# Malformed digests in blob and manifest URLs: 400 DIGEST_INVALID or 404.
for bad in sha256:zzz "sha256:${HEX64:0:63}" md5:abc "sha256:..%2F..%2Foci-layout"; do
	req GET "/v2/$REPO/blobs/$bad"
	if [ "$STATUS" = 400 ]; then
		assert_json_error_code DIGEST_INVALID
	else
		assert_error 404 BLOB_UNKNOWN
	fi
done

# A manifest PUT by digest whose body has another digest: rejected, and
# stored under neither digest.
req PUT "/v2/$REPO/manifests/$ZERO" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$GOOD/manifest.json"
assert_error 400 DIGEST_INVALID
req HEAD "/v2/$REPO/manifests/$ZERO" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 404

# ---------------------------------------------------- MANIFEST_BLOB_UNKNOWN
mkblob "$WORK/tmp/absent" 1234
ABSENT_DESC=$(desc "$MT_OCI_LAYER" "$WORK/tmp/absent")
mkmanifest "$WORK/tmp/m-nolayer" "$CFG_DESC" "$L_DESC" "$ABSENT_DESC"
req PUT "/v2/$REPO/manifests/nolayer" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$WORK/tmp/m-nolayer"
assert_error 400 MANIFEST_BLOB_UNKNOWN
mkconfig "$WORK/tmp/absent-config" "$GOOD/layer0"
mkmanifest "$WORK/tmp/m-noconfig" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/absent-config")" "$L_DESC"
req PUT "/v2/$REPO/manifests/noconfig" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$WORK/tmp/m-noconfig"
assert_error 400 MANIFEST_BLOB_UNKNOWN
# A blob present only in another repository does not count.
push_blob err/elsewhere "$WORK/tmp/absent"
req PUT "/v2/$REPO/manifests/nolayer" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$WORK/tmp/m-nolayer"
assert_error 400 MANIFEST_BLOB_UNKNOWN
if dray_only "an index naming an unknown manifest is refused (invariant 5)"; then
	jq -cnj --arg mt "$MT_OCI_INDEX" --argjson m "$(desc "$MT_OCI_MANIFEST" "$WORK/tmp/m-nolayer")" \
		'{schemaVersion: 2, mediaType: $mt, manifests: [$m]}' >"$WORK/tmp/idx-unknown"
	req PUT "/v2/$REPO/manifests/badindex" -H "Content-Type: $MT_OCI_INDEX" \
		--data-binary "@$WORK/tmp/idx-unknown"
	assert_error 400 MANIFEST_BLOB_UNKNOWN
fi
tags_are_only_good

# --------------------------------------------------------- MANIFEST_INVALID
put_invalid() { # put_invalid CONTENT-TYPE FILE
	req PUT "/v2/$REPO/manifests/invalid" -H "Content-Type: $1" --data-binary "@$2"
	assert_error 400 MANIFEST_INVALID
}
printf '{not json' >"$WORK/tmp/inv1"
put_invalid "$MT_OCI_MANIFEST" "$WORK/tmp/inv1"
printf '' >"$WORK/tmp/inv2"
put_invalid "$MT_OCI_MANIFEST" "$WORK/tmp/inv2"
printf '[]' >"$WORK/tmp/inv3"
put_invalid "$MT_OCI_MANIFEST" "$WORK/tmp/inv3"
printf '{"schemaVersion":2,"mediaType":"%s","layers":[]}' "$MT_OCI_MANIFEST" >"$WORK/tmp/inv4"
put_invalid "$MT_OCI_MANIFEST" "$WORK/tmp/inv4" # no config
jq -cj '.schemaVersion = 1' "$GOOD/manifest.json" >"$WORK/tmp/inv5"
put_invalid "$MT_OCI_MANIFEST" "$WORK/tmp/inv5"
# mediaType in the body contradicts Content-Type.
put_invalid "$MT_OCI_INDEX" "$GOOD/manifest.json"
jq -cj --arg mt "$MT_OCI_INDEX" '.mediaType = $mt' "$GOOD/manifest.json" >"$WORK/tmp/inv6"
put_invalid "$MT_OCI_MANIFEST" "$WORK/tmp/inv6"
# A media type the registry does not know.
put_invalid application/vnd.example.unknown+json "$GOOD/manifest.json"
# A descriptor with a malformed digest.
jq -cj '.layers[0].digest = "sha256:xyz"' "$GOOD/manifest.json" >"$WORK/tmp/inv7"
req PUT "/v2/$REPO/manifests/invalid" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$WORK/tmp/inv7"
assert_error 400 MANIFEST_INVALID DIGEST_INVALID
# Invalid UTF-8 / binary garbage.
head -c 512 "$GOOD/layer0" >"$WORK/tmp/inv8"
put_invalid "$MT_OCI_MANIFEST" "$WORK/tmp/inv8"
tags_are_only_good

# --------------------------------------------------------- MANIFEST_UNKNOWN
req GET "/v2/$REPO/manifests/nosuchtag" -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 MANIFEST_UNKNOWN
req GET "/v2/$REPO/manifests/$ZERO" -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 MANIFEST_UNKNOWN
req DELETE "/v2/$REPO/manifests/$ZERO"
assert_error 404 MANIFEST_UNKNOWN

# ------------------------------------------------------------- NAME_UNKNOWN
req GET /v2/err/nosuchrepo/tags/list
assert_error 404 NAME_UNKNOWN
req GET /v2/err/nosuchrepo/manifests/latest -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 NAME_UNKNOWN

# ------------------------------------------- NAME_INVALID and path traversal
# The storage root's neighbours, to prove nothing escapes it.
SECRET=secret-$RANDOM$RANDOM
printf '%s' "$SECRET" >"$WORK/secret.txt"
snapshot() {
	(cd "$WORK" && find . -path ./data -prune -o -path ./resp -prune -o \
		-path ./logs -prune -o -path ./tmp -prune -o -path ./requests.log -prune \
		-o -print | sort)
}
snapshot >"$WORK/tmp/before"

# assert_name_rejected: 400 NAME_INVALID, or 404 (NAME_INVALID or
# NAME_UNKNOWN if the body is JSON); never a success; nothing leaked.
assert_name_rejected() {
	case $STATUS in
	400) assert_json_error_code NAME_INVALID ;;
	404)
		ASSERTS=$((ASSERTS + 1))
		# A 4xx body MAY be in any format (spec); dray's are JSON.
		if is_dray || jq -e . "$RESP/body" >/dev/null 2>&1; then
			assert_json_error_code NAME_INVALID NAME_UNKNOWN
		fi
		;;
	*) assert_status 400 404 ;;
	esac
	ASSERTS=$((ASSERTS + 1))
	! grep -q "$SECRET" "$RESP/body" || fail "response leaks a file outside the root"
}

BAD_NAMES=(Upper/case err/Upper err/../b err/x/../b err/./b "err//b" ../escape
	../../escape .. err/.. -lead/x err/trail- err/a___b err/a..b .hidden/x
	err/a%2Fb %2e%2e/escape err/%2e%2e/%2e%2e/escape "err/a%20b" "err/a%00b"
	.dray .dray/uploads err/b/ "/err/b" "//etc")
for n in "${BAD_NAMES[@]}"; do
	req GET "/v2/$n/tags/list"
	assert_name_rejected
	req POST "/v2/$n/blobs/uploads/"
	assert_name_rejected
	req PUT "/v2/$n/manifests/t" -H "Content-Type: $MT_OCI_MANIFEST" \
		--data-binary "@$GOOD/manifest.json"
	assert_name_rejected
	req GET "/v2/$n/blobs/$(digest_of "$GOOD/layer0")"
	assert_name_rejected
	assert_alive "after name '$n'"
done
# Traversal aimed at files outside the root.
for p in "/v2/../secret.txt" "/v2/err/b/../../../secret.txt" \
	"/v2/err/b/blobs/..%2F..%2F..%2Fsecret.txt" "/v2/%2e%2e/%2e%2e/secret.txt" \
	"/v2/err/b/manifests/..%2F..%2F..%2Fsecret.txt"; do
	req GET "$p"
	assert_status 400 404
	if is_dray || jq -e . "$RESP/body" >/dev/null 2>&1; then
		assert_json_error_code NAME_INVALID NAME_UNKNOWN DIGEST_INVALID BLOB_UNKNOWN \
			MANIFEST_UNKNOWN MANIFEST_INVALID
	fi
	ASSERTS=$((ASSERTS + 1))
	! grep -q "$SECRET" "$RESP/body" || fail "response leaks a file outside the root"
done
snapshot >"$WORK/tmp/after"
assert_eq "$(cat "$WORK/tmp/before")" "$(cat "$WORK/tmp/after")" \
	"files appeared outside the storage root"
tags_are_only_good "err/b untouched by the invalid names"
req GET /v2/_catalog
if [ "$STATUS" = 200 ]; then
	assert_json '[.repositories[] | select(test("^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$") | not)] == []' \
		"every listed repository name is valid"
fi
if dray_only "no layout created under an invalid name"; then
	check_all_layouts "$WORK/data" >"$WORK/tmp/repos"
	while IFS= read -r r; do
		[[ "$r" =~ ^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$ ]] ||
			fail "a layout exists under the invalid name '$r'"
	done <"$WORK/tmp/repos"
fi

# ------------------------------------------------------------ invalid tags
LONGTAG=t$(printf 'x%.0s' $(seq 128)) # 129 characters
for t in "$LONGTAG" .start -start "a%2Bb" "a%20b" "a:b"; do
	req PUT "/v2/$REPO/manifests/$t" -H "Content-Type: $MT_OCI_MANIFEST" \
		--data-binary "@$GOOD/manifest.json"
	assert_status 400 404
	# A 4xx body MAY be in any format (spec); dray's are JSON (contract).
	if is_dray || jq -e . "$RESP/body" >/dev/null 2>&1; then
		assert_json_error_code MANIFEST_INVALID NAME_INVALID TAG_INVALID \
			MANIFEST_UNKNOWN DIGEST_INVALID
	fi
done
tags_are_only_good "invalid tags were not created"

# -------------------------------------------------------------- SIZE_INVALID
# "Client and registry implementations SHOULD expect to be able to support
# manifest pushes of at least 4 megabytes"; the contract caps at 4 MiB.
big_manifest() { # big_manifest OUT TOTAL-BYTES
	local base pad
	base=$(jq -cj --arg p "" '.annotations = {"pad": $p}' "$GOOD/manifest.json" | wc -c)
	pad=$(($2 - base))
	head -c "$pad" /dev/zero | tr '\0' 'a' >"$WORK/tmp/pad"
	jq -cj --rawfile p "$WORK/tmp/pad" '.annotations = {"pad": $p}' \
		"$GOOD/manifest.json" >"$1"
	assert_eq "$2" "$(filesize "$1")" "test bug: padded manifest size"
}
big_manifest "$WORK/tmp/m-4000000" 4000000
push_manifest "$REPO" nearly4m "$WORK/tmp/m-4000000" "$MT_OCI_MANIFEST"
req GET "/v2/$REPO/manifests/nearly4m" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_body_file "$WORK/tmp/m-4000000"
big_manifest "$WORK/tmp/m-over" $((4 * 1024 * 1024 + 1))
req PUT "/v2/$REPO/manifests/toobig" -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$WORK/tmp/m-over"
assert_error 413 SIZE_INVALID
req GET "/v2/$REPO/manifests/toobig" -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 MANIFEST_UNKNOWN
# A huge declared Content-Length is refused up front, not awaited.
REQ_TIMEOUT=10 req PUT "/v2/$REPO/manifests/huge" -H "Content-Type: $MT_OCI_MANIFEST" \
	-H 'Content-Length: 10000000000' --data-binary '{}'
assert_status 413
assert_alive "after a 10 GB Content-Length"

req GET /v2/
assert_status 200
if dray_only "layout still valid"; then
	check_layout "$WORK/data/$REPO"
fi
dray_stop
pass
