#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# contrib/bench/metrics.sh - what counting costs: small-request throughput
# of dray with extensions.metrics on against the same dray with it off, in
# one run. Two daemons, each on its own loopback port and storage root
# holding the same small image; wrk loads one, then the other (the order
# flips from run to run), METRICS_RUNS times; the medians and their ratio
# (on/off, goal >= 0.95) go to stdout and $METRICS_RESULTS/metrics-<date>.md.
# Between runs the "on" daemon is scraped, as a prometheus would. Then
# metrics-cost.c, built against the Release libraries next to DRAY_BIN,
# times the counting calls alone (CPU ns per request, 1, 2 and 4 threads).
#
# Environment (defaults in brackets):
#   DRAY_BIN         dray to measure, a Release build [build-bench/dray]
#   METRICS_RUNS     runs per daemon, median reported [7]
#   METRICS_DUR      seconds per run [3]
#   METRICS_CONNS    wrk connections [32]
#   METRICS_THREADS  wrk threads [2]
#   METRICS_RESULTS  directory for the report [contrib/bench/results]
#   METRICS_KEEP     1 = keep the work directory [0]
#   METRICS_REPOS    repositories for the exposition size figure [1000]
#
# Last, METRICS_REPOS repositories are pushed to the "on" daemon and each
# image pulled once; the size of the exposition, its families and lines
# and the median time of 5 scrapes are reported.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
DRAY_BIN=${DRAY_BIN:-$TOP/build-bench/dray}
RUNS=${METRICS_RUNS:-7}
DUR=${METRICS_DUR:-3}
CONNS=${METRICS_CONNS:-32}
THREADS=${METRICS_THREADS:-2}
RESULTS=${METRICS_RESULTS:-$HERE/results}
KEEP=${METRICS_KEEP:-0}
REPOS=${METRICS_REPOS:-1000}
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'

die() {
	echo "metrics-bench: $*" >&2
	exit 1
}

[[ -x $DRAY_BIN ]] || die "no dray at $DRAY_BIN (set DRAY_BIN)"
command -v wrk >/dev/null || die "wrk missing: apt-get install wrk"
ldd "$DRAY_BIN" | grep -q 'libasan\|libubsan' &&
	echo "metrics-bench: warning: $DRAY_BIN links a sanitizer" >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-metrics-bench.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[[ $KEEP == 1 ]] && echo "metrics-bench: work dir kept: $WORK" >&2 ||
		rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME EXTRA_YAML: a daemon on a free port; sets PORT.
start() {
	local d=$WORK/$1 i
	mkdir -p "$d/root"
	cat >"$d/dray.yaml" <<EOC
http: {address: 127.0.0.1, port: 0}
storage: {rootDirectory: $d/root}
log: {level: warn, output: $d/log}
$2
EOC
	"$DRAY_BIN" serve "$d/dray.yaml" --port-file "$d/port" >"$d/out" 2>&1 &
	PIDS+=($!)
	for ((i = 0; i < 300; i++)); do
		[[ -s $d/port ]] && break
		sleep 0.1
	done
	PORT=$(tr -d '\n' <"$d/port")
	[[ -n $PORT ]] || die "$1 did not start"
}

# push URL [REPO]: a config blob and a manifest tagged v1 in REPO
# [bench/small].
push() {
	local url=$1/v2/${2:-bench/small} cfg='{}' d m
	d=sha256:$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
	curl -sf -o /dev/null -X POST --data-binary "$cfg" \
		-H 'Content-Type: application/octet-stream' \
		"$url/blobs/uploads/?digest=$d" || die "blob push to $1"
	m='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'$d'","size":2},"layers":[]}'
	curl -sf -o /dev/null -X PUT --data-binary "$m" \
		-H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		"$url/manifests/v1" || die "manifest push to $1"
}

# load PORT: wrk's "requests req/s" on the manifest GET.
load() {
	wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" -H "$ACCEPT" \
		"http://127.0.0.1:$1/v2/bench/small/manifests/v1" |
		awk '/ requests in / { n = $1 } /^Requests\/sec:/ { print n, $2 }'
}

# ticks PID: CPU time the process used so far, in clock ticks.
ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

median() {
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

start off ''
OFF=$PORT
OFF_PID=${PIDS[-1]}
start on 'extensions: {metrics: {enable: true}}'
ON=$PORT
ON_PID=${PIDS[-1]}
push "http://127.0.0.1:$OFF"
push "http://127.0.0.1:$ON"
curl -sf -o /dev/null "http://127.0.0.1:$OFF/metrics" &&
	die "the off daemon serves /metrics"
load "$OFF" >/dev/null # warm-up, both
load "$ON" >/dev/null

: >"$WORK/off.txt"
: >"$WORK/on.txt"
: >"$WORK/off.cpu"
: >"$WORK/on.cpu"
for ((r = 0; r < RUNS; r++)); do
	if ((r % 2)); then order="on off"; else order="off on"; fi
	for w in $order; do
		if [[ $w == on ]]; then p=$ON pid=$ON_PID; else p=$OFF pid=$OFF_PID; fi
		t0=$(ticks "$pid")
		read -r n v < <(load "$p")
		t1=$(ticks "$pid")
		# CPU microseconds per request: less sensitive than req/s to
		# other work on the machine.
		c=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$n" \
			'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
		echo "$v" >>"$WORK/$w.txt"
		echo "$c" >>"$WORK/$w.cpu"
		echo "run $((r + 1)) $w: $v req/s, $c CPU us/request" >&2
	done
	curl -sf -o "$WORK/exposition" "http://127.0.0.1:$ON/metrics" ||
		die "scrape failed"
done
M_OFF=$(median <"$WORK/off.txt")
M_ON=$(median <"$WORK/on.txt")
RATIO=$(awk -v a="$M_ON" -v b="$M_OFF" 'BEGIN { printf "%.3f", a / b }')
C_OFF=$(median <"$WORK/off.cpu")
C_ON=$(median <"$WORK/on.cpu")
C_RATIO=$(awk -v a="$C_ON" -v b="$C_OFF" 'BEGIN { printf "%.3f", b / a }')
COUNTED=$(awk '/^zot_http_requests_total\{method="GET",code="200"\}/ { print $2 }' "$WORK/exposition")

# The exposition at REPOS repositories, each pushed and pulled once.
for ((i = 0; i < REPOS; i++)); do
	push "http://127.0.0.1:$ON" "bench/r$i"
	curl -sf -o /dev/null -H "$ACCEPT" \
		"http://127.0.0.1:$ON/v2/bench/r$i/manifests/v1" || die "pull r$i"
done
: >"$WORK/scrape.txt"
for ((i = 0; i < 5; i++)); do
	curl -sf -o "$WORK/exposition-big" -w '%{time_total}\n' \
		"http://127.0.0.1:$ON/metrics" >>"$WORK/scrape.txt" || die "scrape failed"
done
BIG_BYTES=$(wc -c <"$WORK/exposition-big")
BIG_LINES=$(grep -vc '^#' "$WORK/exposition-big")
BIG_FAMS=$(grep -c '^# TYPE' "$WORK/exposition-big")
BIG_MS=$(median <"$WORK/scrape.txt" | awk '{ printf "%.1f", $1 * 1000 }')
BIG_REPOS=$(grep -o 'repo="[^"]*"' "$WORK/exposition-big" | sort -u | wc -l)

# The counting alone, against the libraries DRAY_BIN was built from.
LIBS=$(dirname "$DRAY_BIN")
COST="(not measured: no $LIBS/libdrhttp.a)"
if [[ -f $LIBS/libdrhttp.a ]] &&
	cc -O2 -pthread -I"$TOP" -o "$WORK/metrics-cost" "$HERE/metrics-cost.c" \
		"$LIBS/libdrhttp.a" "$LIBS/libdrindex.a" "$LIBS/libdrbase.a" \
		$(pkg-config --libs libmicrohttpd jansson rocksdb libxxhash libcrypto libcrypt gnutls); then
	COST=$("$WORK/metrics-cost" | awk '{ s = s (NR > 1 ? ", " : "") $1 ($1 ~ /^[0-9]+$/ ? " threads" : "") ": " $2 " ns" } END { print s }')
fi

mkdir -p "$RESULTS"
OUT=$RESULTS/metrics-$(date -u +%Y%m%d-%H%M)-$(hostname -s).md
{
	echo "# metrics on vs off: small-request throughput"
	echo
	echo "$(date -u '+%F %T UTC'), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -r)"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "dray: $DRAY_BIN ($("$DRAY_BIN" --version)); wrk -t$THREADS -c$CONNS -d${DUR}s GET /v2/bench/small/manifests/v1, $RUNS runs each, order flipped every run"
	echo
	echo "| figure | metrics off | metrics on | ratio on/off (goal >= 0.95) |"
	echo "|---|---|---|---|"
	echo "| manifest GET, req/s (median) | $M_OFF | $M_ON | $RATIO |"
	echo "| dray CPU per request, us (median; ratio off/on) | $C_OFF | $C_ON | $C_RATIO |"
	echo
	echo "Requests the on daemon counted as GET 200 by its last scrape: $COUNTED"
	echo
	echo "Exposition at $((REPOS + 1)) repositories (each pushed and pulled once): $BIG_BYTES bytes, $BIG_LINES samples in $BIG_FAMS families, $BIG_REPOS repo label values; scrape $BIG_MS ms (median of 5)"
	echo
	echo "The counting calls of one manifest GET alone (metrics-cost.c, CPU time per request): $COST"
	echo
	echo "Raw runs (req/s):"
	echo
	echo "- off: $(tr '\n' ' ' <"$WORK/off.txt")"
	echo "- on: $(tr '\n' ' ' <"$WORK/on.txt")"
	echo
	echo "Raw runs (dray CPU us per request):"
	echo
	echo "- off: $(tr '\n' ' ' <"$WORK/off.cpu")"
	echo "- on: $(tr '\n' ' ' <"$WORK/on.cpu")"
} | tee "$OUT"
