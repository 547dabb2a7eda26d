#!/bin/bash
# index-rebuild.sh - DESIGN invariant 2 (the layouts are the truth, the
# RocksDB index only an index of them): several repositories with tags, an
# image index, untagged manifests and referrers; every API answer (catalog
# whole and paged, tag lists whole and paged, manifests by tag and digest,
# GET and HEAD, referrers with and without artifactType filter, blob HEADs)
# is recorded, the daemon stopped, <root>/.dray/index deleted, the daemon
# restarted: every answer is identical. The same after `dray fsck
# --rebuild`. Then fsck: exit 0 on a consistent store; a tag added to an
# index.json by hand (daemon stopped) makes it exit 1 naming the
# repository, and again (it repairs nothing); `fsck --rebuild` then fsck
# exits 0 and the restarted daemon serves the new tag. A repository
# removed by hand is reported the same way. A hand edit while the daemon
# runs is served at the next request.
. "$(dirname "$0")/../lib.sh"
require_dray "dray's index directory and fsck"
need_mkimage

SRC=$WORK/tmp/src
ANS=$WORK/tmp/answers
mkdir -p "$ANS"
ART_SIG=application/vnd.example.signature
ART_SBOM=application/vnd.example.sbom

dray_start

# --- content
"$MKIMAGE" "$SRC" v1 --layers 2 --layer-size 5000 --seed 51 >/dev/null
"$MKIMAGE" "$SRC" multi --index --layers 1 --layer-size 3000 --seed 52 >/dev/null
"$MKIMAGE" "$SRC" 1.0 --layers 1 --layer-size 2000 --seed 53 >/dev/null
"$MKIMAGE" "$SRC" 1.1 --layers 3 --layer-size 1000 --seed 54 >/dev/null
push_layout rb/app v1 "$SRC"
APP_V1=$MANIFEST_DIGEST
push_manifest rb/app latest "$SRC/blobs/sha256/${APP_V1#sha256:}" "$MT_OCI_MANIFEST"
push_layout rb/app multi "$SRC"
APP_MULTI=$MANIFEST_DIGEST
push_layout rb/lib/nested 1.0 "$SRC"
push_layout rb/lib/nested 1.1 "$SRC"
push_layout rb/lib 1.0 "$SRC"
push_image rb/sig v1 2 1500
SIG_V1=$MANIFEST_DIGEST
SIG_V1_FILE=$IMG_DIR/manifest.json
# Untagged only: a manifest pushed by digest.
push_image rb/untagged tmp 1 800
UNTAGGED=$MANIFEST_DIGEST
req DELETE /v2/rb/untagged/manifests/tmp
assert_status 202

# push_referrer REPO SUBJECT-FILE SUBJECT-MT ARTIFACT-TYPE NAME: an
# artifact manifest (empty config, one small blob) naming SUBJECT.
REFS=()
push_referrer() {
	local repo=$1 sfile=$2 smt=$3 at=$4 name=$5 dir=$WORK/tmp/ref-$5
	mkdir -p "$dir"
	printf '{}' >"$dir/empty"
	printf 'artifact %s' "$name" >"$dir/blob"
	push_blob "$repo" "$dir/empty"
	push_blob "$repo" "$dir/blob"
	mkmanifest "$dir/manifest.json" "$(desc "$MT_OCI_EMPTY" "$dir/empty")" \
		"$(desc application/octet-stream "$dir/blob")" -- \
		"$(jq -cn --arg at "$at" --argjson s "$(desc "$smt" "$sfile")" --arg n "$name" \
			'{artifactType: $at, subject: $s, annotations: {"org.example.name": $n}}')"
	push_manifest "$repo" "$(digest_of "$dir/manifest.json")" "$dir/manifest.json" "$MT_OCI_MANIFEST"
	REFS+=("$repo@$MANIFEST_DIGEST")
}
push_referrer rb/sig "$SIG_V1_FILE" "$MT_OCI_MANIFEST" "$ART_SIG" sig1
push_referrer rb/sig "$SIG_V1_FILE" "$MT_OCI_MANIFEST" "$ART_SBOM" sbom1
push_referrer rb/sig "$SIG_V1_FILE" "$MT_OCI_MANIFEST" "$ART_SIG" sig2
push_referrer rb/app "$SRC/blobs/sha256/${APP_MULTI#sha256:}" "$MT_OCI_INDEX" "$ART_SIG" multisig
# The referrers answer is not empty, or the comparison proves little.
req GET "/v2/rb/sig/referrers/$SIG_V1"
assert_status 200
assert_json '.manifests | length == 3' "three referrers of rb/sig:v1"

# --- recording every answer
N=0
# rec DIR METHOD TARGET [curl args]: status, headers (minus Date) and body
# of one request into DIR/<n>.
rec() {
	local dir=$1 method=$2 target=$3 line out
	shift 3
	req "$method" "$target" "$@"
	N=$((N + 1))
	printf -v out '%s/%04d' "$dir" "$N"
	{
		printf '%s %s -> %s\n' "$method" "$target" "$STATUS"
		# The headers but Date and the status line, lowercased, sorted
		# (one process: hundreds of answers are recorded).
		while IFS= read -r line || [ -n "$line" ]; do
			line=${line//$'\r'/}
			line=${line,,}
			case $line in
			date:* | http/*) continue ;;
			esac
			printf '%s\n' "$line"
		done <"$RESP/headers" | sort
		printf -- '--\n'
		cat "$RESP/body"
	} >"$out"
}
# rec_pages DIR TARGET: a paginated list, page by page (Link: next).
rec_pages() {
	local dir=$1 target=$2 link i
	for ((i = 0; i < 30; i++)); do
		rec "$dir" GET "$target"
		link=$(hdr Link) || return 0
		[[ "$link" =~ ^\<([^>]+)\> ]] || fail "bad Link header '$link'"
		target=${BASH_REMATCH[1]}
	done
	fail "more than 30 pages at $target"
}
record() {
	local dir=$1 repo t d b
	N=0
	rm -rf "$dir"
	mkdir -p "$dir"
	rec "$dir" GET /v2/_catalog
	assert_status 200
	bjq -r '.repositories[]' >"$dir.repos"
	rec_pages "$dir" "/v2/_catalog?n=2"
	while read -r repo; do
		rec "$dir" GET "/v2/$repo/tags/list"
		bjq -r '(.tags // [])[]' >"$dir.tags"
		rec_pages "$dir" "/v2/$repo/tags/list?n=1"
		while read -r t; do
			rec "$dir" HEAD "/v2/$repo/manifests/$t" -H "Accept: $ACCEPT_MANIFESTS"
			rec "$dir" GET "/v2/$repo/manifests/$t" -H "Accept: $ACCEPT_MANIFESTS"
			d=$(hdr Docker-Content-Digest)
			rec "$dir" GET "/v2/$repo/manifests/$d" -H "Accept: $ACCEPT_MANIFESTS"
			for b in $(bjq -r '(.config.digest // empty), (.layers[]?.digest), (.manifests[]?.digest)'); do
				rec "$dir" HEAD "/v2/$repo/blobs/$b"
			done
			rec "$dir" GET "/v2/$repo/referrers/$d"
			rec "$dir" GET "/v2/$repo/referrers/$d?artifactType=$ART_SIG"
			rec "$dir" GET "/v2/$repo/referrers/$d?artifactType=$ART_SBOM"
		done <"$dir.tags"
	done <"$dir.repos"
	rec "$dir" GET "/v2/rb/untagged/manifests/$UNTAGGED" -H "Accept: $ACCEPT_MANIFESTS"
	for d in "${REFS[@]}"; do
		rec "$dir" GET "/v2/${d%@*}/manifests/${d#*@}" -H "Accept: $ACCEPT_MANIFESTS"
	done
	rec "$dir" GET /v2/rb/nope/tags/list
}
same_answers() { # same_answers DIR-A DIR-B WHAT
	ASSERTS=$((ASSERTS + 1))
	diff -r "$1" "$2" >"$WORK/tmp/answers.diff" ||
		fail "$3: answers differ: $(head -c 2000 "$WORK/tmp/answers.diff")"
}

record "$ANS/before"
log "  recorded $N answers"
assert_eq "rb/app
rb/lib
rb/lib/nested
rb/sig
rb/untagged" "$(cat "$ANS/before.repos")" "catalog"
assert_true "at least 60 answers recorded" [ "$N" -ge 60 ]
grep -q "$ART_SBOM" "$ANS"/before/* || fail "no referrer with $ART_SBOM recorded"

# --- the index directory deleted
dray_stop
assert_true "the index lives in .dray/index" [ -d "$WORK/data/.dray/index" ]
rm -rf "$WORK/data/.dray/index"
dray_start
record "$ANS/after-rm"
same_answers "$ANS/before" "$ANS/after-rm" "after deleting .dray/index"

# --- fsck on a consistent store; fsck --rebuild
dray_stop
dray_cli fsck "$CFG"
assert_cli_rc 0 "fsck of a consistent store"
dray_cli fsck "$CFG" --rebuild
assert_cli_rc 0 "fsck --rebuild"
dray_cli fsck "$CFG"
assert_cli_rc 0 "fsck after --rebuild"
dray_start
record "$ANS/after-rebuild"
same_answers "$ANS/before" "$ANS/after-rebuild" "after fsck --rebuild"
dray_stop

# --- a tag added to index.json by hand
IJ=$WORK/data/rb/app/index.json
jq -c --arg d "$APP_V1" '.manifests += [.manifests[] | select(.digest == $d) |
	.annotations["org.opencontainers.image.ref.name"] = "handmade"] |
	.manifests |= unique_by(.annotations["org.opencontainers.image.ref.name"])' \
	"$IJ" >"$WORK/tmp/index.json"
assert_eq 1 "$(jq '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "handmade")] | length' "$WORK/tmp/index.json")" \
	"the hand-made tag is in the edited index.json"
mv "$WORK/tmp/index.json" "$IJ"
dray_cli fsck "$CFG"
assert_cli_rc 1 "fsck after a tag was added by hand"
assert_true "fsck names rb/app: $CLI_OUT" grep -q 'rb/app' <<<"$CLI_OUT"
assert_true "fsck names only rb/app: $CLI_OUT" bash -c '! grep -E "rb/(sig|lib|untagged)" <<<"$1"' _ "$CLI_OUT"
dray_cli fsck "$CFG"
assert_cli_rc 1 "a second fsck (fsck repairs nothing)"
dray_cli fsck "$CFG" --rebuild
assert_cli_rc 0 "fsck --rebuild after the hand edit"
dray_cli fsck "$CFG"
assert_cli_rc 0 "fsck after fsck --rebuild"
dray_start
req GET /v2/rb/app/tags/list
assert_status 200
assert_json '.tags | sort == ["handmade", "latest", "multi", "v1"]' "tags of rb/app with the hand-made tag"
req GET /v2/rb/app/manifests/handmade -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$APP_V1"
pull_verify rb/app handmade

# --- a hand edit while the daemon runs is served at the next request
jq -c '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] != "handmade"))' \
	"$IJ" >"$WORK/tmp/index.json"
mv "$WORK/tmp/index.json" "$IJ"
req GET /v2/rb/app/tags/list
assert_status 200
assert_json '.tags | sort == ["latest", "multi", "v1"]' "tags of rb/app after removing the tag by hand"
req GET /v2/rb/app/manifests/handmade -H "Accept: $ACCEPT_MANIFESTS"
assert_status 404
dray_stop
dray_cli fsck "$CFG"
assert_cli_rc 0 "fsck after the running daemon picked up a hand edit"

# --- a repository removed by hand
rm -rf "$WORK/data/rb/untagged"
dray_cli fsck "$CFG"
assert_cli_rc 1 "fsck after a repository was removed by hand"
assert_true "fsck names rb/untagged: $CLI_OUT" grep -q 'rb/untagged' <<<"$CLI_OUT"
dray_cli fsck "$CFG" --rebuild
assert_cli_rc 0 "fsck --rebuild after the removal"
dray_cli fsck "$CFG"
assert_cli_rc 0 "fsck after the rebuild"
dray_start
req GET /v2/_catalog
assert_status 200
assert_json '.repositories == ["rb/app", "rb/lib", "rb/lib/nested", "rb/sig"]' "catalog after the removal"
check_all_layouts "$WORK/data" >/dev/null
dray_stop
pass
