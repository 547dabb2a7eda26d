#!/bin/bash
# api-catalog.sh - GET /v2/_catalog (from the Docker Registry HTTP API V2
# that the spec grew out of, apdx-1; dray implements it like zot): the
# {"repositories":[...]} body in lexical order including nested names,
# ?n= and ?last= pagination with Link rel="next", n=0, and (dray only)
# that internal state and directories that are not layouts are not listed.
. "$(dirname "$0")/../lib.sh"

dray_start

REPOS=(cat/alpha cat/beta/one cat/beta/two cat/gamma cat/zeta/x/y cat/zeta
	cat/a-b cat/a.b cat/a_b cat/a0 solo)
mkblob "$WORK/tmp/blob" 100
for r in "${REPOS[@]}"; do
	push_blob "$r" "$WORK/tmp/blob"
done
# An image with a manifest too, so a registry that only lists repositories
# with manifests still has something to show.
push_image cat/withimage v1 1 100
REPOS+=(cat/withimage)
printf '%s\n' "${REPOS[@]}" | LC_ALL=C sort >"$WORK/tmp/expected"
EXPECTED_JSON=$(jq -Rsc 'split("\n") | map(select(length > 0))' "$WORK/tmp/expected")
N=${#REPOS[@]}

req GET /v2/_catalog
assert_status 200
assert_header_match Content-Type '^application/json'
assert_json ".repositories == $EXPECTED_JSON" "every repository, in lexical order"
assert_header_absent Link

req GET "/v2/_catalog?n=4"
assert_status 200
assert_json ".repositories == $(jq -c '.[:4]' <<<"$EXPECTED_JSON")" "first 4"
assert_header_match Link '^<[^>]+>; *rel="?next"?$'

follow_pages "/v2/_catalog?n=4" .repositories "$WORK/tmp/paged"
assert_eq "$(cat "$WORK/tmp/expected")" "$(cat "$WORK/tmp/paged")" \
	"repositories collected through Link pages"
assert_true "page count $LINK_PAGES for $N repositories of 4" \
	in_range "$LINK_PAGES" $(((N + 3) / 4)) $(((N + 3) / 4 + 1))

req GET "/v2/_catalog?n=0"
assert_status 200
assert_json '(.repositories // []) == []' "n=0 gives an empty list"
assert_header_absent Link

req GET "/v2/_catalog?n=3&last=cat/beta/one"
assert_status 200
assert_json ".repositories == $(jq -c 'map(select(. > "cat/beta/one"))[:3]' <<<"$EXPECTED_JSON")" \
	"3 after cat/beta/one"

req GET "/v2/_catalog?last=cat/zeta/x/y"
assert_status 200
assert_json ".repositories == $(jq -c 'map(select(. > "cat/zeta/x/y"))' <<<"$EXPECTED_JSON")" \
	"everything after cat/zeta/x/y"

req GET "/v2/_catalog?n=1000"
assert_status 200
assert_json ".repositories == $EXPECTED_JSON"
assert_header_absent Link

if dray_only "only OCI layouts are repositories"; then
	dray_stop
	mkdir -p "$WORK/data/notarepo/sub"
	echo hello >"$WORK/data/notarepo/sub/file.txt"
	dray_start
	req GET /v2/_catalog
	assert_status 200
	assert_json ".repositories == $EXPECTED_JSON" \
		"plain directories and .dray are not repositories"
	for r in "${REPOS[@]}"; do
		check_layout "$WORK/data/$r"
	done
fi

dray_stop
pass
