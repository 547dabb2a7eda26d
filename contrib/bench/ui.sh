#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# contrib/bench/ui.sh - is the web UI's first page usable within 1 s of
# loading on loopback (issue 13)? dray (a Release build) serves
# UI_REPOS repositories of UI_TAGS tags each, written as OCI layouts
# before it starts (dray indexes what it finds), with extensions.ui and
# extensions.search on; headless Chromium loads the home page UI_LOADS
# times (contrib/bench/ui-load.py, a new document each time) and each
# load's time from the navigation's start to both lists of the home page
# in the DOM (app.js's performance mark "dray:ready") is taken, with the
# first contentful paint and the HTML's arrival. Also timed with curl:
# the home page's search query alone (RepoListWithNewestImage sorted two
# ways: one request of two root fields, as app.js sends it, and the same
# as two requests at once). Writes contrib/bench/results/ui-<date>-vm.md.
#
#   contrib/bench/ui.sh                  # build-rel/dray, 1,000 repositories
#   UI_REPOS=200 UI_LOADS=5 contrib/bench/ui.sh
#   DRAY_BIN=path/to/dray KEEP=1 contrib/bench/ui.sh
#
# Build the Release binary first:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release &&
#   cmake --build build-rel --target dray
# Needs chromium and python3 (contrib/install-deps.sh --test).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
DRAY_BIN=${DRAY_BIN:-$SRC/build-rel/dray}
UI_REPOS=${UI_REPOS:-1000}
UI_TAGS=${UI_TAGS:-2}
UI_LOADS=${UI_LOADS:-9}
UI_QUERIES=${UI_QUERIES:-9}
KEEP=${KEEP:-0}
OUT=${UI_OUT:-$SRC/contrib/bench/results/ui-$(date -u +%Y%m%d-%H%M)-vm.md}

die() {
	echo "ui.sh: $*" >&2
	exit 1
}

# shellcheck source=contrib/bench/lib.sh
. "$SRC/contrib/bench/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-bench-ui.XXXXXX")
trap bench_cleanup EXIT

[ -x "$DRAY_BIN" ] || die "no $DRAY_BIN (see the top of this script)"
command -v chromium >/dev/null || die "chromium is missing"
if ldd "$DRAY_BIN" 2>/dev/null | grep -q 'libasan\|libubsan'; then
	echo "ui.sh: warning: $DRAY_BIN links a sanitizer: not a Release build" >&2
fi

# median and 90th percentile (nearest rank) of numbers on stdin
stats() {
	sort -n | awk '{v[NR] = $1} END {
		if (!NR) { print "- -"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p = int(NR * 0.9 + 0.999); if (p > NR) p = NR
		printf "%.0f %.0f\n", m, v[p] }'
}

# --- the repositories, as layouts: bench/rNNNN with tags v1..vUI_TAGS,
# each a small image (one layer, a config with its creation time)
t0=$(date +%s.%N)
python3 - "$WORK/ui/root" "$UI_REPOS" "$UI_TAGS" <<'LAYOUT'
import hashlib, json, os, sys
root, repos, tags = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
OCI_M = "application/vnd.oci.image.manifest.v1+json"

def blob(repo, data, mt):
    if not isinstance(data, bytes):
        data = json.dumps(data).encode()
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, repo, "blobs/sha256", d), "wb") as f:
        f.write(data)
    return {"mediaType": mt, "digest": "sha256:" + d, "size": len(data)}

for r in range(repos):
    repo = "bench/r%04d" % r
    os.makedirs(os.path.join(root, repo, "blobs/sha256"))
    mans = []
    for t in range(1, tags + 1):
        layer = blob(repo, b"layer %d %d\n" % (r, t) * 64,
                     "application/vnd.oci.image.layer.v1.tar")
        day = 1 + (r * tags + t) % 28
        cfg = blob(repo, {"architecture": "amd64", "os": "linux",
                          "created": "2025-11-%02dT%02d:%02d:00Z"
                                     % (day, r % 24, t % 60),
                          "config": {"Labels": {
                              "org.opencontainers.image.vendor": "bench"}},
                          "rootfs": {"type": "layers",
                                     "diff_ids": [layer["digest"]]},
                          "history": [{"created_by": "RUN make %d" % t}]},
                   "application/vnd.oci.image.config.v1+json")
        m = blob(repo, {"schemaVersion": 2, "mediaType": OCI_M,
                        "config": cfg, "layers": [layer]}, OCI_M)
        m["annotations"] = {"org.opencontainers.image.ref.name": "v%d" % t}
        mans.append(m)
    with open(os.path.join(root, repo, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(root, repo, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": mans,
                   "mediaType": "application/vnd.oci.image.index.v1+json"},
                  f)
LAYOUT
t1=$(date +%s.%N)

# extensions is a top-level key: these lines end start_dray's http section
start_dray ui 'extensions:' '  ui: {enable: true}' '  search: {enable: true}' ||
	die "dray did not start (log: $WORK/ui/out)"
t2=$(date +%s.%N)
URL=http://127.0.0.1:${PORT[ui]}

# Some pulls, so that "most pulled" has an order.
for ((r = 0; r < 20 && r < UI_REPOS; r++)); do
	for ((n = 0; n <= r % 4; n++)); do
		curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
			"$URL/v2/bench/r$(printf %04d $r)/manifests/v1" || die "pull failed"
	done
done

# --- the home page's search query alone: as two requests at once
# (RepoListWithNewestImage sorted by time, by pulls), and as app.js
# sends it, one request of both (which dray answers one after the other)
page_query() {
	printf '{"query":"query ($page: PageInput) { RepoListWithNewestImage(requestedPage: $page) { Results { Name LastUpdated Size DownloadCount Platforms { Os Arch } NewestImage { Tag } } } }","variables":{"page":{"sortBy":"%s","limit":12,"offset":0}}}' "$1"
}
TWO_FIELDS='{"query":"query ($recent: PageInput, $popular: PageInput) { Recent: RepoListWithNewestImage(requestedPage: $recent) { Results { Name LastUpdated Size DownloadCount Platforms { Os Arch } NewestImage { Tag } } } Popular: RepoListWithNewestImage(requestedPage: $popular) { Results { Name LastUpdated Size DownloadCount Platforms { Os Arch } NewestImage { Tag } } } }","variables":{"recent":{"sortBy":"UPDATE_TIME","limit":12,"offset":0},"popular":{"sortBy":"DOWNLOADS","limit":12,"offset":0}}}'
: >"$WORK/query-ms"
: >"$WORK/query1-ms"
for ((i = 0; i < UI_QUERIES; i++)); do
	q0=$(date +%s%N)
	curl -sf -o "$WORK/recent.json" -X POST -H 'Content-Type: application/json' \
		--data "$(page_query UPDATE_TIME)" "$URL/v2/_zot/ext/search" &
	p1=$!
	curl -sf -o "$WORK/popular.json" -X POST -H 'Content-Type: application/json' \
		--data "$(page_query DOWNLOADS)" "$URL/v2/_zot/ext/search" &
	p2=$!
	wait $p1 && wait $p2 || die "the search queries failed"
	echo $((($(date +%s%N) - q0) / 1000000)) >>"$WORK/query-ms"
	# as app.js sends it
	curl -sf -o /dev/null -w '%{time_total}\n' -X POST -H 'Content-Type: application/json' \
		--data "$TWO_FIELDS" "$URL/v2/_zot/ext/search" |
		awk '{printf "%.0f\n", $1 * 1000}' >>"$WORK/query1-ms" || die "the search query failed"
done
jq -e '.data.RepoListWithNewestImage.Results | length == 12' "$WORK/recent.json" >/dev/null ||
	die "the search query's answer is not 12 repositories: $(head -c 300 "$WORK/recent.json")"

# --- the page, in Chromium
python3 "$SRC/contrib/bench/ui-load.py" "$URL" "$WORK" "$UI_LOADS" \
	>"$WORK/loads.jsonl" || die "ui-load.py failed (see $WORK)"
grep -q '"problems"' "$WORK/loads.jsonl" &&
	die "the page logged problems: $(grep problems "$WORK/loads.jsonl")"
jq -se 'map(select(.recent != 12 or .popular != 12 or .state != "ready")) | length == 0' \
	"$WORK/loads.jsonl" >/dev/null || die "a load did not show both lists: $(cat "$WORK/loads.jsonl")"
rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/${SPID[ui]}/status")
mkdir -p "$(dirname "$OUT")"
cp "$WORK/ui-home.png" "${OUT%.md}.png"

# warm: every load but the first (its files came from the network, not
# as 304s, and Chromium's own start-up is in it)
field() { jq -r "select(.load > 0) | .$1" "$WORK/loads.jsonl"; }
read -r ready_med ready_p90 < <(field ready_ms | stats)
read -r fcp_med fcp_p90 < <(field fcp_ms | stats)
read -r html_med html_p90 < <(field html_ms | stats)
read -r q_med q_p90 < <(stats <"$WORK/query-ms")
read -r q1_med q1_p90 < <(stats <"$WORK/query1-ms")
first_ready=$(jq -r 'select(.load == 0) | .ready_ms | floor' "$WORK/loads.jsonl")
verdict=$([ "$ready_p90" -lt 1000 ] && echo "yes" || echo "NO")

{
	echo "# Web UI first page: time to usable ($(date -u +%Y-%m-%d) $(date -u +%H:%M) UTC)"
	echo
	echo "contrib/bench/ui.sh: dray $(git -C "$SRC" describe --always --dirty 2>/dev/null || echo '?')" \
		"($DRAY_BIN), $UI_REPOS repositories x $UI_TAGS tags written as layouts before start," \
		"extensions.ui and extensions.search on, home page loaded $UI_LOADS times in headless" \
		"Chromium over loopback. Usable = both lists of the home page (recently updated, most" \
		"pulled; 12 cards each) in the DOM: app.js's mark \"dray:ready\", from the navigation's start."
	echo
	echo "| figure | median | p90 |"
	echo "| --- | --- | --- |"
	echo "| home page usable (mark dray:ready), ms, warm loads | $ready_med | $ready_p90 |"
	echo "| first contentful paint, ms, warm loads | $fcp_med | $fcp_p90 |"
	echo "| HTML received (responseEnd), ms, warm loads | $html_med | $html_p90 |"
	echo "| the home page's search query alone (curl; as app.js: one request, two root fields), ms | $q1_med | $q1_p90 |"
	echo "| the same as two requests at once, ms | $q_med | $q_p90 |"
	echo
	echo "- Under 1 s (p90 of warm loads): **$verdict**. First load (cold HTTP cache): ${first_ready} ms."
	echo "- dray RSS after the loads: $((rss_kib / 1024)) MiB. Layouts written in" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s; dray up (index built) in" \
		"$(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.1f", b - a}') s."
	echo "- No peer: no other registry UI is packaged here to measure against."
	echo "- Screenshot of the first load: $(basename "${OUT%.md}.png")."
	echo
	echo "## Machine"
	echo
	echo "- $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
		"$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
	echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: other builds and tests ran)"
	echo "- $(chromium --version 2>/dev/null | head -1)"
	echo
	echo "## Raw loads (ms)"
	echo
	echo "| load | usable | FCP | HTML | DOMContentLoaded |"
	echo "| --- | --- | --- | --- | --- |"
	jq -r '"| \(.load) | \(.ready_ms | floor) | \(.fcp_ms | floor) | \(.html_ms | floor) | \(.dcl_ms | floor) |"' \
		"$WORK/loads.jsonl"
	echo
	echo "Search queries alone (ms): two requests at once: $(tr '\n' ' ' <"$WORK/query-ms");" \
		"one request of two fields: $(tr '\n' ' ' <"$WORK/query1-ms")"
} >"$OUT"
cat "$OUT"
echo "ui.sh: wrote $OUT" >&2
