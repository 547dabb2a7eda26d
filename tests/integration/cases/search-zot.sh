#!/bin/bash
# search-zot.sh - zot's GraphQL search API (extensions.search) with the
# queries zui sends for its home, explore, repository and tag pages and
# those zli sends, over known images:
#   pub/alpine:3.19   amd64, annotations (description, licenses, ...),
#                     history; signed (cosign tag) and an SBOM referrer
#   pub/alpine:3.20   amd64, newer; vendor and title from config labels
#   pub/multi:1.0     an index: linux/amd64 and linux/arm64/v8
#   pub/derived:1     alpine 3.19's layers plus one
#   priv/secret:v1    only for alice (accessControl)
# Answers are checked value by value; every query is validated against
# the schema dray publishes (introspection) and every answer's shape
# against its query by python3-graphql-core. Anonymous callers never
# see priv/; CVE queries are a GraphQL error; search off is a 404.
. "$(dirname "$0")/../lib.sh"
require_dray "extensions.search"
need_htpasswd
python3 -c 'import importlib.util as u, sys; sys.exit(not u.find_spec("graphql"))' ||
	fail "python3-graphql-core is missing: contrib/install-deps.sh --test"

USERS=$WORK/cfg/htpasswd
htpasswd_users "$USERS" alice:pw-alice
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
          - {users: [alice], actions: [read, create, update, delete]}
    adminPolicy: {users: [alice], actions: [read, create, update, delete]}"
dray_start_cfg -- "extensions:
  search:
    enable: true
    cve:
      updateInterval: 2h"
as_user alice:pw-alice
# zli looks for the endpoint here first.
req GET /v2/_oci/ext/discover
assert_status 200
gql_is '[.extensions[] | select(.name == "_zot") | .endpoints[]]' \
	'["/v2/_zot/ext/search"]' "discover lists search"

# blob REPO FILE: a monolithic upload (one request, as clients may).
blob() {
	req POST "/v2/$1/blobs/uploads/?digest=$(digest_of "$2")" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$2"
	assert_status 201
}

# img REPO TAG CREATED ARCH VARIANT ANNOTATIONS LABELS LAYER...: push an
# image manifest whose config says CREATED, linux/ARCH(/VARIANT), LABELS
# and a history entry per layer (one empty entry first); sets
# MANIFEST_DIGEST, IMG_CFG and IMG_MAN (the files).
img() {
	local repo=$1 tag=$2 created=$3 arch=$4 variant=$5 ann=$6 labels=$7 l
	local descs=() ids=()
	shift 7
	for l in "$@"; do
		blob "$repo" "$l"
		descs+=("$(desc "$MT_OCI_LAYER" "$l")")
		ids+=("$(digest_of "$l")")
	done
	IMG_CFG=$WORK/tmp/$RANDOM$RANDOM.cfg
	jq -cnj --arg c "$created" --arg a "$arch" --arg v "$variant" \
		--argjson lb "$labels" --args \
		'{created: $c, architecture: $a, os: "linux", config: {Labels: $lb},
		  rootfs: {type: "layers", diff_ids: $ARGS.positional},
		  history: ([{created: $c, created_by: "ENV X=1", empty_layer: true}] +
		    [$ARGS.positional[] | {created: $c, created_by: ("ADD " + .)}])}
		 + (if $v == "" then {} else {variant: $v} end)' \
		"${ids[@]}" >"$IMG_CFG"
	blob "$repo" "$IMG_CFG"
	IMG_MAN=$WORK/tmp/$RANDOM$RANDOM.man
	mkmanifest "$IMG_MAN" "$(desc "$MT_OCI_CONFIG" "$IMG_CFG")" "${descs[@]}" \
		-- "{\"annotations\": $ann}"
	push_manifest "$repo" "$tag" "$IMG_MAN" "$MT_OCI_MANIFEST"
}

size_of_image() { # MANIFEST CONFIG: manifest + config + layers
	echo $(($(filesize "$1") + $(filesize "$2") + $(jq '[.layers[].size] | add' "$1")))
}

L=$WORK/tmp
mkblob "$L/a1" 3000 1
mkblob "$L/a2" 5000 2
mkblob "$L/b1" 7000 3
mkblob "$L/d1" 1100 4
mkblob "$L/m1" 900 5
mkblob "$L/m2" 800 6
mkblob "$L/s1" 600 7

ANN='{"org.opencontainers.image.description": "Alpine Linux",
 "org.opencontainers.image.licenses": "MIT",
 "org.opencontainers.image.vendor": "Alpine Team",
 "org.opencontainers.image.title": "alpine",
 "org.opencontainers.image.source": "https://git.example/alpine",
 "org.opencontainers.image.documentation": "https://docs.example/alpine",
 "org.opencontainers.image.authors": "Natanael"}'
img pub/alpine 3.19 2024-01-01T10:00:00Z amd64 "" "$ANN" '{"org.label-schema.labels": "os,base"}' "$L/a1" "$L/a2"
A19=$MANIFEST_DIGEST
A19_SIZE=$(size_of_image "$IMG_MAN" "$IMG_CFG")
A19_MAN=$IMG_MAN
A19_CFG_DIGEST=$(digest_of "$IMG_CFG")
img pub/alpine 3.20 2024-06-01T10:00:00Z amd64 "" '{}' \
	'{"org.opencontainers.image.vendor": "Label Vendor", "org.label-schema.name": "label-title"}' "$L/b1"
A20=$MANIFEST_DIGEST
img pub/derived 1 2024-03-01T00:00:00Z amd64 "" '{"org.opencontainers.image.description": "on alpine"}' '{}' \
	"$L/a1" "$L/a2" "$L/d1"
D1=$MANIFEST_DIGEST
img priv/secret v1 2025-01-01T00:00:00Z amd64 "" '{}' '{}' "$L/s1"

# pub/multi:1.0, an index of two platforms.
img pub/multi amd64-only 2023-05-01T00:00:00Z amd64 "" '{}' '{}' "$L/m1"
MA=$MANIFEST_DIGEST
MA_DESC=$(desc "$MT_OCI_MANIFEST" "$IMG_MAN")
img pub/multi arm64-only 2023-05-02T00:00:00Z arm64 v8 '{}' '{}' "$L/m2"
MB=$MANIFEST_DIGEST
MB_DESC=$(desc "$MT_OCI_MANIFEST" "$IMG_MAN")
jq -cnj --argjson a "$MA_DESC" --argjson b "$MB_DESC" --arg mt "$MT_OCI_INDEX" \
	'{schemaVersion: 2, mediaType: $mt, manifests: [
	   $a + {platform: {os: "linux", architecture: "amd64"}},
	   $b + {platform: {os: "linux", architecture: "arm64", variant: "v8"}}],
	  annotations: {"org.opencontainers.image.description": "two platforms"}}' \
	>"$L/index"
push_manifest pub/multi 1.0 "$L/index" "$MT_OCI_INDEX"
MI=$MANIFEST_DIGEST
# The single-platform tags were only a way in: drop them.
req DELETE "/v2/pub/multi/manifests/amd64-only"
assert_status 202
req DELETE "/v2/pub/multi/manifests/arm64-only"
assert_status 202

# A cosign signature (by tag) and an SBOM (by subject) of alpine:3.19.
printf '{}' >"$L/empty"
blob pub/alpine "$L/empty"
printf '{"spdxVersion":"SPDX-2.3"}' >"$L/sbom"
blob pub/alpine "$L/sbom"
mkmanifest "$L/sig" "$(desc application/vnd.dev.cosign.artifact.sig.v1+json "$L/empty")" \
	"$(desc application/vnd.dev.cosign.simplesigning.v1+json "$L/sbom")"
push_manifest pub/alpine "sha256-${A19#sha256:}.sig" "$L/sig" "$MT_OCI_MANIFEST"
SUBJ=$(jq -cn --arg d "$A19" --argjson s "$(filesize "$A19_MAN")" --arg mt "$MT_OCI_MANIFEST" \
	'{mediaType: $mt, digest: $d, size: $s}')
mkmanifest "$L/sbomman" "$(desc application/vnd.oci.empty.v1+json "$L/empty")" \
	"$(desc application/spdx+json "$L/sbom")" -- \
	"$(jq -cn --argjson s "$SUBJ" '{artifactType: "application/spdx+json", subject: $s,
	   annotations: {"org.example.kind": "sbom"}}')"
SB=$(digest_of "$L/sbomman")
push_manifest pub/alpine "$SB" "$L/sbomman" "$MT_OCI_MANIFEST"
SB_SIZE=$(filesize "$L/sbomman")

# Two pulls of alpine:3.19 (a HEAD is no download).
req GET /v2/pub/alpine/manifests/3.19 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
req GET "/v2/pub/alpine/manifests/$A19" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
req HEAD /v2/pub/alpine/manifests/3.19 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200

# --- zui's home page: RepoListWithNewestImage and GlobalSearch sorted ---
gql '{RepoListWithNewestImage(requestedPage: {limit:15 offset:0}){Results {Name LastUpdated Size Platforms {Os Arch}  NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description  Licenses Title Source IsSigned SignatureInfo { Tool IsTrusted Author } Documentation Vendor Labels} IsStarred IsBookmarked StarCount DownloadCount}}}'
gql_is '[.data.RepoListWithNewestImage.Results[].Name]' \
	'["priv/secret","pub/alpine","pub/derived","pub/multi"]' "newest first"
gql_is '.data.RepoListWithNewestImage.Results[1].NewestImage.Tag' '"3.20"' "alpine's newest"
gql_is '.data.RepoListWithNewestImage.Results[1].LastUpdated' '"2024-06-01T10:00:00Z"' "alpine updated"
gql_is '.data.RepoListWithNewestImage.Results[1].NewestImage.Vendor' '"Label Vendor"' "vendor from a label"
gql_is '.data.RepoListWithNewestImage.Results[1].NewestImage.Title' '"label-title"' "title from label-schema"
gql_is '.data.RepoListWithNewestImage.Results[1].NewestImage.Vulnerabilities' 'null' "no CVE summary"
gql_is '.data.RepoListWithNewestImage.Results[1].DownloadCount' '2' "two GETs, no HEAD"
gql_is '.data.RepoListWithNewestImage.Results[3].Platforms' \
	'[{"Os":"linux","Arch":"amd64"},{"Os":"linux","Arch":"arm64/v8"}]' "index platforms"
gql_is '.errors' 'null' "no errors"

for sort in DOWNLOADS UPDATE_TIME; do
	gql "{GlobalSearch(query:\"\", requestedPage: {limit:3 offset:0 sortBy: $sort} ) {Page {TotalCount ItemCount} Repos {Name LastUpdated Size Platforms { Os Arch } IsStarred IsBookmarked NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description IsSigned SignatureInfo { Tool IsTrusted Author } Licenses Vendor Labels } StarCount DownloadCount}}}"
	gql_is '.data.GlobalSearch.Page' '{"TotalCount":4,"ItemCount":3}' "$sort page"
	case $sort in
	DOWNLOADS) gql_is '.data.GlobalSearch.Repos[0].Name' '"pub/alpine"' "most pulled" ;;
	UPDATE_TIME) gql_is '[.data.GlobalSearch.Repos[].Name]' \
		'["priv/secret","pub/alpine","pub/derived"]' "recent" ;;
	esac
done

# --- explore: search as you type, filters, suggestions ---
gql '{GlobalSearch(query:"alp", requestedPage: {limit:10 offset:0 sortBy: RELEVANCE} ,filter: { Os:["linux"] Arch:["amd64"] HasToBeSigned: true}) {Page {TotalCount ItemCount} Repos {Name Size DownloadCount Rank NewestImage {Tag IsSigned SignatureInfo {Tool IsTrusted Author}}}}}'
gql_is '[.data.GlobalSearch.Repos[].Name]' '["pub/alpine"]' "signed amd64 match"
gql_is '.data.GlobalSearch.Repos[0].Rank' '1' "zot's rank: start of the last name"
gql '{GlobalSearch(query:"pub", requestedPage: {limit:10 offset:0 sortBy: ALPHABETIC_DSC}, filter: {Arch:["arm64/v8"]}) {Page {TotalCount ItemCount} Repos {Name}}}'
gql_is '[.data.GlobalSearch.Repos[].Name]' '["pub/multi"]' "arch filter"
gql '{GlobalSearch(query:"pub/alpine:3", requestedPage: {limit:9 offset:0 sortBy:RELEVANCE}) {Images {RepoName Tag}}}'
gql_is '.data.GlobalSearch.Images' \
	'[{"RepoName":"pub/alpine","Tag":"3.19"},{"RepoName":"pub/alpine","Tag":"3.20"}]' "tag suggestions (no signature tag)"

# --- repository page: ExpandedRepoInfo ---
gql '{ExpandedRepoInfo(repo:"pub/alpine"){Images {Manifests {Digest Platform {Os Arch} Size} Vulnerabilities {MaxSeverity Count} Tag LastUpdated Vendor IsDeletable } Summary {Name LastUpdated Size Platforms {Os Arch} Vendors IsStarred IsBookmarked NewestImage {RepoName IsSigned SignatureInfo { Tool IsTrusted Author } Vulnerabilities {MaxSeverity Count} Manifests {Digest} Tag Vendor Title Documentation DownloadCount Source Description Licenses}}}}'
gql_is '[.data.ExpandedRepoInfo.Images[].Tag]' '["3.20","3.19"]' "newest first, no signature"
gql_is '.data.ExpandedRepoInfo.Images[1].Manifests' \
	"[{\"Digest\":\"$A19\",\"Platform\":{\"Os\":\"linux\",\"Arch\":\"amd64\"},\"Size\":\"$A19_SIZE\"}]" "3.19's manifest"
gql_is '.data.ExpandedRepoInfo.Images[1].IsDeletable' 'true' "alice may delete"
gql_is '.data.ExpandedRepoInfo.Summary.Vendors' '["Alpine Team","Label Vendor"]' "vendors, in tag order"
gql_is '.data.ExpandedRepoInfo.Summary.NewestImage.Tag' '"3.20"' "newest"

# --- tag page: Image, Referrers, DerivedImageList, BaseImageList ---
gql '{Image(image: "pub/alpine:3.19"){RepoName IsSigned SignatureInfo { Tool IsTrusted Author } Vulnerabilities {MaxSeverity Count}  Referrers {MediaType ArtifactType Size Digest Annotations{Key Value}} Tag TaggedTimestamp ArtifactType Manifests {ArtifactType Layers {Size Digest} History {Layer {Size Digest} HistoryDescription {CreatedBy EmptyLayer}} Digest ConfigDigest LastUpdated Size Platform {Os Arch} Referrers {MediaType ArtifactType Size Digest Annotations{Key Value}}} Vendor Licenses }}'
gql_is '.data.Image.IsSigned' 'true' "signed"
gql_is '.data.Image.SignatureInfo' '[{"Tool":"cosign","IsTrusted":false,"Author":""}]' "cosign"
gql_is '.data.Image.Referrers' \
	"[{\"MediaType\":\"$MT_OCI_MANIFEST\",\"ArtifactType\":\"application/spdx+json\",\"Size\":$SB_SIZE,\"Digest\":\"$SB\",\"Annotations\":[{\"Key\":\"org.example.kind\",\"Value\":\"sbom\"}]}]" "the SBOM"
gql_is '.data.Image.Manifests[0].ConfigDigest' "\"$A19_CFG_DIGEST\"" "config"
gql_is '.data.Image.Manifests[0].ArtifactType' "\"$MT_OCI_CONFIG\"" "artifact type"
gql_is '[.data.Image.Manifests[0].History[].HistoryDescription.CreatedBy]' \
	"[\"ENV X=1\",\"ADD $(digest_of "$L/a1")\",\"ADD $(digest_of "$L/a2")\"]" "history"
gql_is '.data.Image.Manifests[0].History[0].Layer' 'null' "an empty layer"
gql_is '.data.Image.Manifests[0].History[2].Layer' \
	"{\"Size\":\"5000\",\"Digest\":\"$(digest_of "$L/a2")\"}" "history's layer"
gql_is '.data.Image.Licenses' '"MIT"' "licenses"
gql "{Referrers(repo: \"pub/alpine\" digest: \"$A19\" type: \"\"){MediaType ArtifactType Size Digest Annotations{Key Value}}}"
gql_is '[.data.Referrers[].Digest]' "[\"$SB\"]" "referrers"
gql '{DerivedImageList(image: "pub/alpine:3.19", requestedPage: {limit:15 offset:0}){Page {TotalCount ItemCount} Results {RepoName Tag Description Manifests {Digest Platform {Os Arch} Size} Vendor DownloadCount LastUpdated IsSigned SignatureInfo { Tool IsTrusted Author } Vulnerabilities {MaxSeverity Count}}}}'
gql_is '[.data.DerivedImageList.Results[] | .RepoName + ":" + .Tag]' '["pub/derived:1"]' "derived"
gql '{BaseImageList(image: "pub/derived:1", requestedPage: {limit:15 offset:0}){Page {TotalCount ItemCount} Results { RepoName Tag Description Manifests {Digest Platform {Os Arch} Size} Vendor DownloadCount LastUpdated IsSigned SignatureInfo { Tool IsTrusted Author } Vulnerabilities {MaxSeverity Count}}}}'
gql_is '[.data.BaseImageList.Results[] | .RepoName + ":" + .Tag]' '["pub/alpine:3.19"]' "base"
gql_is '.data.BaseImageList.Results[0].DownloadCount' '2' "its pulls"
gql '{Image(image: "pub/multi:1.0"){Digest MediaType Description Size Manifests {Digest Platform {Os Arch}}}}'
gql_is '.data.Image.MediaType' "\"$MT_OCI_INDEX\"" "an index"
gql_is '[.data.Image.Manifests[].Digest]' "[\"$MA\",\"$MB\"]" "its manifests"
gql_is '.data.Image.Description' '"two platforms"' "index annotation"

# --- zli: ImageList, ImageListForDigest, GlobalSearch, POST with variables ---
gql_post 'query ($r: String!) { ImageList(repo: $r, requestedPage: {sortBy: ALPHABETIC_DSC}) { Results { RepoName Tag Digest MediaType Manifests { Digest ConfigDigest Size Platform {Os Arch} IsSigned Layers {Size Digest} LastUpdated } LastUpdated Size IsSigned } } }' '{"r": "pub/alpine"}'
gql_is '[.data.ImageList.Results[].Tag]' '["3.20","3.19"]' "ImageList sorted"
gql_is '.data.ImageList.Results[1].Size' "\"$A19_SIZE\"" "size"
gql "{ImageListForDigest(id: \"$(digest_of "$L/a2")\") { Results { RepoName Tag Digest } } }"
gql_is '[.data.ImageListForDigest.Results[] | .RepoName + ":" + .Tag]' \
	'["pub/alpine:3.19","pub/derived:1"]' "by a layer's digest"
gql '{ImageList(repo: "") { Page {TotalCount ItemCount} } }'
gql_is '.data.ImageList.Page.TotalCount' '5' "every image alice may see"
gql '{StarredRepos { Page {TotalCount ItemCount} Results {Name} } BookmarkedRepos(requestedPage: {limit: 2}) { Results {Name} } }'
gql_is '.data.StarredRepos.Results' '[]' "no stars without preferences"

# --- CVE queries: a GraphQL error; bad requests ---
gql '{CVEListForImage(image: "pub/alpine:3.19"){Tag CVEList {Id}}}'
gql_is '.data' 'null' "no data"
assert_true "CVE error: $(body)" grep -q 'CVE scanning is not supported' "$RESP/body"
gql '{ImageList(repo: "pub/alpine", requestedPage: {limit: -1}) { Results { Tag } } }'
gql_is '.errors[0].message' '"limit is negative"' "negative limit"
GQL_INVALID=1 gql '{ImageList(repo: "pub/alpine") { Results { Nope } } }'
gql_is '.errors[0].locations' '[{"line":1,"column":44}]' "an unknown field, located"

# --- accessControl: anonymous sees pub/ only ---
as_anonymous
gql '{RepoListWithNewestImage { Results { Name } } }'
gql_is '[.data.RepoListWithNewestImage.Results[].Name]' \
	'["pub/alpine","pub/derived","pub/multi"]' "anonymous: no priv/"
gql '{GlobalSearch(query: "secret") { Repos { Name } } }'
gql_is '.data.GlobalSearch.Repos' '[]' "anonymous: priv/secret not found"
gql '{ExpandedRepoInfo(repo: "priv/secret") { Summary { Name } Images { Tag } } }'
gql_is '.data.ExpandedRepoInfo' '{"Summary":null,"Images":null}' "anonymous: nothing of it"
gql '{ImageListForDigest(id: "'"$(digest_of "$L/s1")"'") { Results { RepoName } } }'
gql_is '.data.ImageListForDigest.Results' '[]' "anonymous: not by digest either"
gql '{ImageList(repo: "pub/alpine") { Results { Tag IsDeletable } } }'
gql_is '[.data.ImageList.Results[].IsDeletable]' '[false,false]' "anonymous may not delete"
as_user alice:pw-alice

# --- PushTimestamp, PushedBy and DownloadCount outlive a restart and a
# rebuild of the index ---
PUSHQ='{Image(image: "pub/alpine:3.19") {PushTimestamp PushedBy DownloadCount}}'
gql "$PUSHQ"
gql_is '.data.Image.PushedBy' '"alice"' "pushed by alice"
gql_is '.data.Image.DownloadCount' '2' "pulled twice"
PUSHED=$(jq -c .data.Image.PushTimestamp "$RESP/body")
assert_true "a push time: $PUSHED" grep -Eq '^"20[0-9-]+T[0-9:]+Z"$' <<<"$PUSHED"
SEARCH_CFG="extensions:
  search:
    enable: true"
dray_stop
dray_start_cfg -- "$SEARCH_CFG"
gql "$PUSHQ"
gql_is '.data.Image' "{\"PushTimestamp\":$PUSHED,\"PushedBy\":\"alice\",\"DownloadCount\":2}" "after a restart"
req GET /v2/pub/alpine/manifests/3.19 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
dray_stop
dray_cli fsck "$CFG" --rebuild
assert_cli_rc 0 "fsck --rebuild"
dray_start_cfg -- "$SEARCH_CFG"
gql "$PUSHQ"
gql_is '.data.Image' "{\"PushTimestamp\":$PUSHED,\"PushedBy\":\"alice\",\"DownloadCount\":3}" "after a rebuild"

gql_verify
assert_true "cve warned about" grep -q 'extensions.search.cve' "$DAEMON_LOG" "$DAEMON_ERR"

# --- without extensions.search: no endpoint ---
dray_stop
dray_start_cfg
req GET "/v2/_zot/ext/search" -G --data-urlencode 'query={ImageList(repo:""){Page{TotalCount}}}'
assert_status 404
req GET /v2/_oci/ext/discover
assert_status 404
pass
