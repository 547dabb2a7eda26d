#!/bin/bash
# api-tags.sh - Content Discovery, "Listing Tags" (end-8a, end-8b): the
# {"name","tags"} body in lexical order, ?n= (exactly n unless fewer
# remain; n=0 gives an empty list and no Link), ?last= (strictly after),
# Link rel="next" pagination that walks the whole list, 404 NAME_UNKNOWN
# for an unknown repository, re-tagging, 128-character tags, and tags
# that differ only in case.
. "$(dirname "$0")/../lib.sh"

dray_start
REPO=tags/repo
push_image "$REPO" first 1 1000
M1=$MANIFEST_DIGEST
MFILE=$IMG_DIR/manifest.json

LONG=t$(printf 'x%.0s' $(seq 127)) # 128 characters
TAGS=(latest v1.0 v1.10 v1.2 v2 0 9 a b1 b10 b2 x-y x.y x_y x0 z zz
	sha256-0123456789abcdef rc-1 rc_1 rc.1 "$LONG")
for t in "${TAGS[@]}"; do
	push_manifest "$REPO" "$t" "$MFILE" "$MT_OCI_MANIFEST"
done
printf '%s\n' first "${TAGS[@]}" | LC_ALL=C sort >"$WORK/tmp/expected"
NT=$(wc -l <"$WORK/tmp/expected")
EXPECTED_JSON=$(jq -Rsc 'split("\n") | map(select(length > 0))' "$WORK/tmp/expected")

# --- the whole list
req GET "/v2/$REPO/tags/list"
assert_status 200
assert_json ".name == \"$REPO\"" "name is the repository"
assert_json ".tags == $EXPECTED_JSON" "all tags, in lexical order"
assert_header_match Content-Type '^application/json'
assert_header_absent Link

# --- n: exactly n results while more remain, and a Link to the rest
req GET "/v2/$REPO/tags/list?n=5"
assert_status 200
assert_json ".tags == $(jq -c '.[:5]' <<<"$EXPECTED_JSON")" "first 5 tags"
assert_header_match Link '^<[^>]+>; *rel="?next"?$'

follow_pages "/v2/$REPO/tags/list?n=5" .tags "$WORK/tmp/paged"
assert_eq "$(cat "$WORK/tmp/expected")" "$(cat "$WORK/tmp/paged")" \
	"tags collected through Link pages"
assert_true "page count $LINK_PAGES for $NT tags of 5" \
	in_range "$LINK_PAGES" $(((NT + 4) / 5)) $(((NT + 4) / 5 + 1))

# Every page is full except the last (checked by walking with n=4).
target="/v2/$REPO/tags/list?n=4"
pages=0
while [ -n "$target" ] && [ "$pages" -lt 20 ]; do
	req GET "$target"
	assert_status 200
	cnt=$(bjq '.tags | length')
	pages=$((pages + 1))
	if link=$(hdr Link); then
		assert_eq 4 "$cnt" "a page followed by a Link is full"
		[[ "$link" =~ ^\<([^>]+)\> ]] || fail "bad Link '$link'"
		target=${BASH_REMATCH[1]}
	else
		target=
	fi
done

# --- n=0: "MUST return an empty list, and MUST NOT include a Link header"
req GET "/v2/$REPO/tags/list?n=0"
assert_status 200
assert_json '.tags == []' "n=0 gives an empty list"
assert_header_absent Link

# --- n larger than the list: all of it, no Link
req GET "/v2/$REPO/tags/list?n=1000"
assert_status 200
assert_json ".tags == $EXPECTED_JSON"
assert_header_absent Link

# --- last: strictly after <tagname>, with or without n
req GET "/v2/$REPO/tags/list?last=v1.0"
assert_status 200
assert_json ".tags == $(jq -c 'map(select(. > "v1.0"))' <<<"$EXPECTED_JSON")" \
	"tags after v1.0"
req GET "/v2/$REPO/tags/list?n=3&last=b10"
assert_status 200
assert_json ".tags == $(jq -c 'map(select(. > "b10"))[:3]' <<<"$EXPECTED_JSON")" \
	"3 tags after b10"
req GET "/v2/$REPO/tags/list?n=3&last=zz"
assert_status 200
assert_json '(.tags // []) == []' "nothing after the last tag"
assert_header_absent Link

# --- unknown repository
req GET "/v2/tags/nosuchrepo/tags/list"
assert_error 404 NAME_UNKNOWN

# --- a repository without tags: "The list of tags MAY be empty"
mkblob "$WORK/tmp/lonely" 100
push_blob tags/notags "$WORK/tmp/lonely"
req GET /v2/tags/notags/tags/list
assert_status 200
assert_json '.name == "tags/notags" and (.tags // []) == []' "empty tag list"

# --- re-tagging moves the tag; it is listed once
push_image tags/move moving 1 500
OLD=$MANIFEST_DIGEST
push_image tags/move moving 1 600
NEW=$MANIFEST_DIGEST
NEWFILE=$IMG_DIR/manifest.json
assert_ne "$OLD" "$NEW" "test bug: the two images are identical"
req GET /v2/tags/move/manifests/moving -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$NEW"
assert_body_file "$NEWFILE"
req GET /v2/tags/move/tags/list
assert_json '.tags == ["moving"]' "one tag after re-tagging"
# The old manifest is still there by digest (only the tag moved).
req HEAD "/v2/tags/move/manifests/$OLD" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200

# --- tags are case-sensitive
push_image tags/case CaseTag 1 700
UPPER=$MANIFEST_DIGEST
push_image tags/case casetag 1 800
LOWER=$MANIFEST_DIGEST
req GET /v2/tags/case/tags/list
assert_json '(.tags | sort) == ["CaseTag", "casetag"]' "both case variants listed"
req GET /v2/tags/case/manifests/CaseTag -H "Accept: $ACCEPT_MANIFESTS"
assert_header Docker-Content-Digest "$UPPER"
req GET /v2/tags/case/manifests/casetag -H "Accept: $ACCEPT_MANIFESTS"
assert_header Docker-Content-Digest "$LOWER"

if dray_only "tags live in index.json"; then
	check_layout "$WORK/data/$REPO"
	assert_eq "$(cat "$WORK/tmp/expected")" "$(layout_tags "$WORK/data/$REPO")" \
		"index.json ref.name annotations"
	assert_eq moving "$(layout_tags "$WORK/data/tags/move")" \
		"index.json holds the moved tag once"
	assert_eq "$NEW" "$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "moving") | .digest' "$WORK/data/tags/move/index.json")" \
		"index.json tag points at the new manifest"
fi

# Tags survive a restart.
dray_stop
dray_start
req GET "/v2/$REPO/tags/list"
assert_status 200
assert_json ".tags == $EXPECTED_JSON" "tags after restart"
dray_stop
pass
