#!/bin/bash
# search-userprefs.sh - zot's user preferences (stars and bookmarks) with
# extensions.search and extensions.ui on and htpasswd users: toggled with
# PUT /v2/_zot/ext/userprefs, answered by StarredRepos, BookmarkedRepos,
# RepoSummary.IsStarred/IsBookmarked/StarCount, the IsStarred filter and
# sorting by STARS; the errors zot gives (400, 403, 404) with their JSON;
# kept across a restart (in <root>/.dray/userprefs); a deleted
# repository's preferences kept but left out of the answers. Every query
# is checked against the published schema (python3-graphql-core).
. "$(dirname "$0")/../lib.sh"
require_dray "extensions.search"
need_htpasswd
python3 -c 'import importlib.util as u, sys; sys.exit(not u.find_spec("graphql"))' ||
	fail "python3-graphql-core is missing: contrib/install-deps.sh --test"

USERS=$WORK/cfg/htpasswd
htpasswd_users "$USERS" alice:pw-alice bob:pw-bob
HTTP_EXTRA="  auth:
    htpasswd:
      path: $USERS
  accessControl:
    repositories:
      \"pub/**\":
        anonymousPolicy: [read]
        defaultPolicy: [read]
      \"priv/**\":
        policies:
          - {users: [alice], actions: [read]}
    adminPolicy: {users: [alice], actions: [read, create, update, delete]}"
ON='extensions:
  search:
    enable: true
  ui:
    enable: true'

# --- search without ui: zot serves no userprefs (a 404, not listed) ---
dray_start_cfg -- 'extensions:
  search:
    enable: true'
as_user alice:pw-alice
req PUT "/v2/_zot/ext/userprefs?action=toggleStar&repo=pub/a"
assert_status 404
req GET /v2/_oci/ext/discover
gql_is '.extensions[0].endpoints' '["/v2/_zot/ext/search"]' "search alone"
dray_stop

dray_start_cfg -- "$ON"
req GET /v2/_oci/ext/discover
gql_is '.extensions[0].endpoints' \
	'["/v2/_zot/ext/search","/v2/_zot/ext/userprefs"]' "discover lists both"
push_image pub/a 1 1 64
push_image pub/b 1 1 64
DIGEST_B=$MANIFEST_DIGEST
push_image pub/c 1 1 64
push_image priv/s 1 1 64

# toggle ACTION REPO STATUS: one PUT, its status checked.
toggle() {
	req PUT "/v2/_zot/ext/userprefs?action=$1&repo=$2"
	assert_status "$3"
}
# error_is MESSAGE-PART: the last answer is dray's error JSON saying it.
error_is() {
	assert_json '.errors | length == 1' "one error"
	assert_json ".errors[0].message | contains(\"$1\")" "message says '$1'"
}

# --- what zot refuses ---
req PUT "/v2/_zot/ext/userprefs?repo=pub/a"
assert_status 400
error_is "no action given"
toggle like pub/a 400
error_is "unknown action"
req PUT "/v2/_zot/ext/userprefs?action=toggleStar"
assert_status 400
error_is "no repo given"
toggle toggleStar "" 404
toggle toggleStar pub/none 404
error_is "repository 'pub/none' not found"
toggle toggleBookmark pub/none 404
req GET "/v2/_zot/ext/userprefs?action=toggleStar&repo=pub/a"
assert_status 405
as_anonymous
toggle toggleStar pub/a 403
error_is "need a login"
as_user bob:pw-bob
toggle toggleStar priv/s 403
error_is "may not read repository 'priv/s'"
# Not readable is refused before "not there": names do not leak.
toggle toggleStar priv/none 403

# --- stars and bookmarks ---
toggle toggleStar pub/a 200
toggle toggleStar pub/c 200
as_user alice:pw-alice
for r in pub/a pub/b pub/c priv/s; do toggle toggleStar "$r" 200; done
toggle toggleStar pub/c 200 # undone: pub/c keeps bob's star only
toggle toggleBookmark pub/b 200
toggle toggleBookmark priv/s 200

Q='{StarredRepos { Page { TotalCount ItemCount } Results { Name StarCount IsStarred IsBookmarked } } }'
gql "$Q"
gql_is '[.data.StarredRepos.Results[] | [.Name, .StarCount, .IsStarred, .IsBookmarked]] | sort' \
	'[["priv/s",1,true,true],["pub/a",2,true,false],["pub/b",1,true,true]]' "alice's stars"
gql_is '.data.StarredRepos.Page' '{"TotalCount":3,"ItemCount":3}' "paged"
gql '{BookmarkedRepos(requestedPage: {limit: 1, offset: 1, sortBy: ALPHABETIC_ASC}) { Page { TotalCount ItemCount } Results { Name } } }'
gql_is '.data.BookmarkedRepos' '{"Page":{"TotalCount":2,"ItemCount":1},"Results":[{"Name":"pub/b"}]}' \
	"alice's bookmarks, second page"
gql '{RepoListWithNewestImage(requestedPage: {sortBy: STARS}) { Results { Name StarCount IsStarred } } }'
gql_is '[.data.RepoListWithNewestImage.Results[] | [.Name, .StarCount, .IsStarred]]' \
	'[["pub/a",2,true],["priv/s",1,true],["pub/b",1,true],["pub/c",1,false]]' "sorted by stars"
gql '{GlobalSearch(query: "pub", filter: {IsStarred: false}) { Repos { Name } } }'
gql_is '[.data.GlobalSearch.Repos[].Name]' '["pub/c"]' "the IsStarred filter"

as_user bob:pw-bob
gql '{StarredRepos { Results { Name StarCount } } BookmarkedRepos { Results { Name } } }'
gql_is '[.data.StarredRepos.Results[] | [.Name, .StarCount]] | sort' '[["pub/a",2],["pub/c",1]]' "bob's stars"
gql_is '.data.BookmarkedRepos.Results' '[]' "bob has no bookmarks"
gql '{ExpandedRepoInfo(repo: "pub/b") { Summary { StarCount IsStarred IsBookmarked } } }'
gql_is '.data.ExpandedRepoInfo.Summary' '{"StarCount":1,"IsStarred":false,"IsBookmarked":false}' \
	"another user's star counts, not his"
as_anonymous
gql '{StarredRepos { Results { Name } } RepoListWithNewestImage { Results { Name StarCount IsStarred } } }'
gql_is '.data.StarredRepos.Results' '[]' "anonymous: no stars"
gql_is '[.data.RepoListWithNewestImage.Results[] | [.Name, .StarCount, .IsStarred]] | sort' \
	'[["pub/a",2,false],["pub/b",1,false],["pub/c",1,false]]' "anonymous: counts only"

# --- a deleted repository: kept in the file, left out of the answers ---
as_user alice:pw-alice
req DELETE "/v2/pub/b/manifests/$DIGEST_B"
assert_status 202
gql '{StarredRepos { Results { Name } } BookmarkedRepos { Results { Name } } }'
gql_is '[.data.StarredRepos.Results[].Name] | sort' '["priv/s","pub/a"]' "pub/b left out"
gql_is '[.data.BookmarkedRepos.Results[].Name]' '["priv/s"]' "pub/b's bookmark left out"
assert_eq "$(jq -c .starred "$WORK/data/.dray/userprefs/alice.json")" \
	'["priv/s","pub/a","pub/b"]' "the file keeps pub/b"

# --- a restart keeps them ---
dray_stop
dray_start
as_user bob:pw-bob
gql '{StarredRepos { Results { Name StarCount IsStarred } } }'
gql_is '[.data.StarredRepos.Results[] | [.Name, .StarCount, .IsStarred]] | sort' \
	'[["pub/a",2,true],["pub/c",1,true]]' "bob's stars after a restart"
toggle toggleStar pub/a 200
gql '{ExpandedRepoInfo(repo: "pub/a") { Summary { StarCount IsStarred } } }'
gql_is '.data.ExpandedRepoInfo.Summary' '{"StarCount":1,"IsStarred":false}' "unstarred after the restart"

gql_verify
pass
