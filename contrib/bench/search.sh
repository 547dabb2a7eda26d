#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# contrib/bench/search.sh - zot's search API over many repositories.
#
# Writes BENCH_REPOS (10,000) OCI layouts of BENCH_TAGS (10) tags each
# with search-gen.py (every tag a distinct small manifest; configs with
# os/arch/created/labels; one or two layers shared by all), starts a
# Release dray with extensions.search on them and measures:
#   - the index build from the layouts (dray's "index reconciled" line at
#     its first start, and the time until /v2/ answers);
#   - GlobalSearch (several texts, "" included), RepoListWithNewestImage,
#     ImageList of one repository and ExpandedRepoInfo: p50 and p99 over
#     BENCH_N requests each (curl's time_total, one connection each);
#   - dray's peak RSS (VmHWM) after the run;
#   - /v2/_catalog?n=1000 on dray and on Debian's docker-registry over the
#     same repository names (written as a Distribution tree by
#     search-gen.py --dist, BENCH_DIST_TAGS tags each), as a ratio.
# zot is not packaged: there is no peer for the search itself.
#
#   contrib/bench/search.sh                   # builds build-rel/ if needed
#   BENCH_DATA=/dev/shm/x contrib/bench/search.sh   # reuse (or keep) data
#
# The report goes to contrib/bench/results/search-<date>-<host>.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
BENCH_REPOS=${BENCH_REPOS:-10000}
BENCH_TAGS=${BENCH_TAGS:-10}
BENCH_DIST_TAGS=${BENCH_DIST_TAGS:-1}
BENCH_N=${BENCH_N:-200}
KEEP=${BENCH_KEEP:-0}
DRAY_BIN=${DRAY_BIN:-$TOP/build-rel/dray}

die() { echo "search.sh: $*" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-bench-search.XXXXXX")
# shellcheck source=contrib/bench/lib.sh
. "$HERE/lib.sh"
trap bench_cleanup EXIT

if [[ ! -x $DRAY_BIN ]]; then
	cmake -S "$TOP" -B "$TOP/build-rel" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$TOP/build-rel" -j2 --target dray >/dev/null
fi
if ldd "$DRAY_BIN" | grep -q 'libasan\|libubsan'; then
	echo "warning: $DRAY_BIN links a sanitizer: not a Release build" >&2
fi
command -v docker-registry >/dev/null || die "docker-registry is not installed"

DATA=${BENCH_DATA:-$WORK/data}
if [[ ! -f $DATA/generated ]]; then
	mkdir -p "$DATA"
	echo "writing $BENCH_REPOS repositories x $BENCH_TAGS tags to $DATA" >&2
	t0=$(date +%s.%N)
	python3 "$HERE/search-gen.py" "$DATA/oci" --repos "$BENCH_REPOS" \
		--tags "$BENCH_TAGS" --dist "$DATA/dist" \
		--dist-tags "$BENCH_DIST_TAGS"
	echo "$BENCH_REPOS $BENCH_TAGS $(echo "$(date +%s.%N) - $t0" | bc)" \
		>"$DATA/generated"
fi
rm -rf "$DATA/oci/.dray" # the index is built from the layouts

# --- dray: the index build ---
P=$(free_port)
mkdir -p "$WORK/dray"
# dedupe on, as the data is written (shared layers are hard links): off,
# dray would turn 20,000 links into copies at start, which changes every
# blobs/ directory and makes the first periodic reconcile re-index all.
cat >"$WORK/dray/dray.yaml" <<EOF
http: {address: 127.0.0.1, port: $P}
storage: {rootDirectory: $DATA/oci, dedupe: true}
log: {level: info, output: $WORK/dray/log}
extensions: {search: {enable: true}}
EOF
t0=$(date +%s%N)
"$DRAY_BIN" serve "$WORK/dray/dray.yaml" >"$WORK/dray/out" 2>&1 &
DPID=$!
PIDS+=("$DPID")
for ((i = 0; i < 36000; i++)); do
	curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$P/v2/" && break
	kill -0 "$DPID" 2>/dev/null || die "dray died: $(tail -5 "$WORK/dray/out")"
	sleep 0.1
done
UP_MS=$((($(date +%s%N) - t0) / 1000000))
RECONCILE=$(grep -o 'index reconciled: [^"]*' "$WORK/dray/log" | head -1)

# CPU ticks (user + system) of process $1 so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Measure a quiet dray: RocksDB's compactions after the build (and any
# background pass) done, i.e. under 5 ticks of CPU in 2 s (10 minutes at
# most).
t0=$(date +%s)
for ((i = 0; i < 300; i++)); do
	a=$(ticks "$DPID")
	sleep 2
	(($(ticks "$DPID") - a < 5)) && break
done
QUIET_S=$(($(date +%s) - t0))
RSS_UP=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")

# --- queries ---
declare -A P50 P99 CPU
# measure NAME URL [CURL-ARGS...]: BENCH_N requests, p50 and p99 in ms,
# and the server's CPU time per request (SPID: whose; dray's by default).
measure() {
	local name=$1 url=$2 f=$WORK/t.$RANDOM pid=${SPID_OF:-$DPID} t0
	shift 2
	curl -sf -o "$WORK/$name.json" "$url" "$@" || die "$name failed"
	t0=$(ticks "$pid")
	for ((i = 0; i < BENCH_N; i++)); do
		curl -s -o /dev/null -w '%{time_total}\n' "$url" "$@"
	done | sort -n >"$f"
	CPU[$name]=$(awk -v a="$t0" -v b="$(ticks "$pid")" -v n="$BENCH_N" \
		-v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) * 1000 / hz / n}')
	P50[$name]=$(awk -v n="$BENCH_N" 'NR == int(n * 0.5 + 0.5) {printf "%.2f", $1 * 1000}' "$f")
	P99[$name]=$(awk -v n="$BENCH_N" 'NR == int(n * 0.99 + 0.5) {printf "%.2f", $1 * 1000}' "$f")
	echo "$name: p50 ${P50[$name]} ms, p99 ${P99[$name]} ms, cpu ${CPU[$name]} ms" >&2
}
gql() { # gql NAME QUERY
	measure "$1" "http://127.0.0.1:$P/v2/_zot/ext/search" -G \
		--data-urlencode "query=$2"
}
REPO=team07/busybox-nginx7 # search-gen.py's name of repository 7
REPO_FIELDS='Name LastUpdated Size Platforms {Os Arch} Vendors DownloadCount StarCount IsStarred IsBookmarked NewestImage {Tag Digest Vendor Description IsSigned LastUpdated Size}'
IMG_FIELDS='RepoName Tag Digest LastUpdated Size Vendor Description DownloadCount PushTimestamp IsSigned Manifests {Digest ConfigDigest Platform {Os Arch} Size Layers {Digest Size} History {Layer {Digest} HistoryDescription {CreatedBy}}}'
PAGE='requestedPage: {limit: 10, offset: 0'
gql search-empty "{GlobalSearch(query: \"\", $PAGE, sortBy: RELEVANCE}) {Page {TotalCount ItemCount} Repos {$REPO_FIELDS}}}"
gql search-redis "{GlobalSearch(query: \"redis\", $PAGE, sortBy: RELEVANCE}) {Page {TotalCount ItemCount} Repos {$REPO_FIELDS Rank}}}"
gql search-path "{GlobalSearch(query: \"team07/nginx\", $PAGE, sortBy: RELEVANCE}) {Page {TotalCount ItemCount} Repos {$REPO_FIELDS Rank}}}"
gql search-filter "{GlobalSearch(query: \"alp\", $PAGE, sortBy: UPDATE_TIME}, filter: {Os: [\"linux\"], Arch: [\"arm64/v8\"]}) {Page {TotalCount ItemCount} Repos {$REPO_FIELDS}}}"
gql search-tag "{GlobalSearch(query: \"$REPO:v1\", $PAGE, sortBy: RELEVANCE}) {Page {TotalCount ItemCount} Images {$IMG_FIELDS}}}"
gql repolist "{RepoListWithNewestImage($PAGE}) {Page {TotalCount ItemCount} Results {$REPO_FIELDS}}}"
gql imagelist "{ImageList(repo: \"$REPO\", $PAGE}) {Page {TotalCount ItemCount} Results {$IMG_FIELDS}}}"
gql expanded "{ExpandedRepoInfo(repo: \"$REPO\") {Summary {$REPO_FIELDS} Images {$IMG_FIELDS}}}"
jq -e '.data.GlobalSearch.Page.TotalCount == '"$BENCH_REPOS" "$WORK/search-empty.json" >/dev/null ||
	die "GlobalSearch \"\" did not count every repository: $(head -c 300 "$WORK/search-empty.json")"
jq -e '.data.ImageList.Page.TotalCount == '"$BENCH_TAGS" "$WORK/imagelist.json" >/dev/null ||
	die "ImageList: $(head -c 300 "$WORK/imagelist.json")"
measure catalog-dray "http://127.0.0.1:$P/v2/_catalog?n=1000"
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")
INDEX_KB=$(du -sk "$DATA/oci/.dray/index" | cut -f1)

# --- docker-registry: the catalog over the same names ---
DP=$(free_port)
mkdir -p "$WORK/dist"
cat >"$WORK/dist/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $DATA/dist}
  cache: {blobdescriptor: inmemory}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: "127.0.0.1:$DP", secret: dray-bench}
EOF
docker-registry serve "$WORK/dist/config.yml" >"$WORK/dist/out" 2>&1 &
PIDS+=($!)
SPID_OF=$!
wait_up "$DP" "$!"
curl -sf -o /dev/null "http://127.0.0.1:$DP/v2/$REPO/manifests/v1.0" \
	-H 'Accept: application/vnd.oci.image.manifest.v1+json' ||
	die "docker-registry does not serve the generated tree"
measure catalog-dist "http://127.0.0.1:$DP/v2/_catalog?n=1000"
cmp -s <(jq -c .repositories "$WORK/catalog-dray.json") \
	<(jq -c .repositories "$WORK/catalog-dist.json") ||
	die "the two catalogs differ"

# --- the report ---
mkdir -p "$HERE/results"
OUT=$HERE/results/search-$(date -u +%Y%m%d-%H%M%S)-$(hostname -s 2>/dev/null || echo vm).md
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0) printf "%.1f", b / a; else print "-"}'; }
{
	echo "# search benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "dray: $DRAY_BIN ($(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')), Release; docker-registry $(docker-registry --version 2>/dev/null | awk '{print $NF}')."
	echo "Data: $BENCH_REPOS repositories x $BENCH_TAGS tags (one distinct manifest each, 1-2 shared layers) written by search-gen.py in $(cut -d' ' -f3 "$DATA/generated") s; the Distribution tree has the same repositories with $BENCH_DIST_TAGS tag(s) each."
	echo
	echo "| figure | value |"
	echo "|---|---|"
	echo "| index build at first start | ${RECONCILE:-?} |"
	echo "| start until /v2/ answers | $UP_MS ms |"
	echo "| then until dray's CPU was quiet (compactions) | $QUIET_S s |"
	echo "| index size on disk | $((INDEX_KB / 1024)) MiB |"
	echo "| dray VmRSS once built and quiet, before any query | $((RSS_UP / 1024)) MiB |"
	echo "| dray VmHWM after the run | $((HWM / 1024)) MiB (VmRSS $((RSS / 1024)) MiB) |"
	echo
	echo "Each query $BENCH_N times, one curl (one connection) each: curl's time_total, and dray's CPU time (user + system from /proc) per request:"
	echo
	echo "| query | p50 ms | p99 ms | CPU ms/request |"
	echo "|---|---|---|---|"
	for q in search-empty search-redis search-path search-filter search-tag repolist imagelist expanded; do
		echo "| $q | ${P50[$q]} | ${P99[$q]} | ${CPU[$q]} |"
	done
	echo
	echo "| /v2/_catalog?n=1000 | dray | docker-registry | ratio (>1: dray faster) |"
	echo "|---|---|---|---|"
	echo "| p50 ms | ${P50[catalog-dray]} | ${P50[catalog-dist]} | $(ratio "${P50[catalog-dray]}" "${P50[catalog-dist]}") |"
	echo "| p99 ms | ${P99[catalog-dray]} | ${P99[catalog-dist]} | $(ratio "${P99[catalog-dray]}" "${P99[catalog-dist]}") |"
	echo "| CPU ms/request | ${CPU[catalog-dray]} | ${CPU[catalog-dist]} | $(ratio "${CPU[catalog-dray]}" "${CPU[catalog-dist]}") |"
	echo
	echo "Queries: GlobalSearch \"\" / \"redis\" / \"team07/nginx\" (RELEVANCE), \"alp\" filtered to linux/arm64/v8 by UPDATE_TIME, \"$REPO:v1\" (images); RepoListWithNewestImage; ImageList and ExpandedRepoInfo of $REPO; pages of 10 with the fields zui asks for."
} >"$OUT"
cat "$OUT"
echo "report: $OUT" >&2
