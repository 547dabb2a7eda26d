#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# contrib/bench/sync.sh - pull-through caching, side by side in one run:
# a cold pull of a 4-layer image (SYNC_LAYER_MIB MiB per layer, 256 MiB in
# all by default) from an upstream (Debian's docker-registry, Distribution)
# directly, through dray's on-demand sync, and through Distribution's own
# proxy mode (proxy.remoteurl) over the same upstream; then the warm pull
# (everything cached) from each; then SYNC_CLIENTS clients pulling the same
# uncached image at once through each, counting the upstream's blob
# transfers (its access log). Pulls are `skopeo copy docker://... dir:`.
# Every cold run starts both caches empty (restarted on a fresh root).
# Medians of SYNC_RUNS runs, order flipped from run to run; the report
# goes to stdout and $SYNC_RESULTS/sync-<date>-<host>.md.
#
# Environment (defaults in brackets):
#   DRAY_BIN       dray to measure, a Release build [build-bench/dray]
#   MKIMAGE        the image generator [next to DRAY_BIN]
#   SYNC_RUNS      runs per way, median reported [5]
#   SYNC_LAYER_MIB MiB per layer, 4 layers [64]
#   SYNC_CLIENTS   clients of the concurrent cold pull [20]
#   SYNC_RESULTS   directory for the report [contrib/bench/results]
#   SYNC_KEEP      1 = keep the work directory [0]
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
DRAY_BIN=${DRAY_BIN:-$TOP/build-bench/dray}
MKIMAGE=${MKIMAGE:-$(dirname "$DRAY_BIN")/mkimage}
RUNS=${SYNC_RUNS:-5}
LAYER_MIB=${SYNC_LAYER_MIB:-64}
CLIENTS=${SYNC_CLIENTS:-20}
RESULTS=${SYNC_RESULTS:-$HERE/results}
KEEP=${SYNC_KEEP:-0}

die() {
	echo "sync-bench: $*" >&2
	exit 1
}

[[ -x $DRAY_BIN ]] || die "no dray at $DRAY_BIN (set DRAY_BIN)"
[[ -x $MKIMAGE ]] || die "no mkimage at $MKIMAGE (set MKIMAGE)"
for t in docker-registry skopeo curl ss; do
	command -v "$t" >/dev/null || die "$t missing (contrib/install-deps.sh)"
done
ldd "$DRAY_BIN" | grep -q 'libasan\|libubsan' &&
	echo "sync-bench: warning: $DRAY_BIN links a sanitizer" >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-sync-bench.XXXXXX")
# shellcheck source=contrib/bench/lib.sh
. "$HERE/lib.sh"
trap bench_cleanup EXIT

# stop NAME: stop server NAME and forget its root.
stop() {
	local p=${SPID[$1]:-}
	if [[ -n $p ]]; then
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	fi
	unset "SPID[$1]"
	rm -rf "${WORK:?}/$1"
}

start_cache() { # start_cache NAME: dray or dist, empty
	stop "$1"
	if [[ $1 == dray ]]; then
		retry start_dray dray "extensions:" "  sync:" "    registries:" \
			"      - urls: [\"http://127.0.0.1:${PORT[up]}\"]" \
			"        onDemand: true" "        tlsVerify: false"
	else
		DIST_ACCESSLOG=0 retry start_dist dist "" \
			"proxy: {remoteurl: http://127.0.0.1:${PORT[up]}}"
	fi
}

# pull NAME OUT: skopeo copy of bench/big:v1 from NAME into dir:OUT;
# prints the seconds it took.
pull() {
	local t0 t1
	rm -rf "$2"
	t0=$(date +%s.%N)
	skopeo copy -q --src-tls-verify=false \
		"docker://127.0.0.1:${PORT[$1]}/bench/big:v1" "dir:$2" >/dev/null ||
		die "pull from $1 failed"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

# upstream_gets: blob GETs the upstream answered 200 so far.
upstream_gets() {
	grep -c '"GET /v2/bench/big/blobs/sha256:[0-9a-f]* HTTP/1.1" 200' \
		"$WORK/up/log" || true
}

# --- the upstream and its image
"$MKIMAGE" "$WORK/src" v1 --layers 4 --layer-size $((LAYER_MIB << 20)) \
	--seed 5 >/dev/null
DIST_ACCESSLOG=1 retry start_dist up
skopeo copy -q --dest-tls-verify=false "oci:$WORK/src:v1" \
	"docker://127.0.0.1:${PORT[up]}/bench/big:v1" >/dev/null ||
	die "push to the upstream failed"
# Blobs a pull asks for: the layers and the config (not the manifest).
BLOBS=$(($(find "$WORK/src/blobs/sha256" -type f | wc -l) - 1))
SIZE=$(du -sb "$WORK/src/blobs" | cut -f1)

declare -A T
# cold NAME: one cold pull through NAME (direct: the upstream itself).
cold() {
	local s
	if [[ $1 == direct ]]; then
		s=$(pull up "$WORK/out")
	else
		start_cache "$1"
		s=$(pull "$1" "$WORK/out")
		T[warm-$1]+="$(pull "$1" "$WORK/out") "
	fi
	T[cold-$1]+="$s "
	echo "  cold $1: $s s" >&2
}
cold direct >/dev/null # warm-up: page cache, skopeo
T=()
interleave "$RUNS" cold direct dray dist

# --- CLIENTS at once, both caches empty: upstream blob transfers.
declare -A FAN
fan() {
	local i before pids=()
	start_cache "$1"
	before=$(upstream_gets)
	for ((i = 0; i < CLIENTS; i++)); do
		pull "$1" "$WORK/fan-$i" >"$WORK/fan-$i.t" &
		pids+=($!)
	done
	wait "${pids[@]}" || die "a concurrent pull through $1 failed"
	FAN[$1]=$(($(upstream_gets) - before))
	FAN[t-$1]=$(cat "$WORK"/fan-*.t | sort -g | tail -n 1)
	rm -rf "$WORK"/fan-*
}
fan dray
fan dist

# Bit-identical: what came through dray is what the upstream holds.
pull up "$WORK/direct" >/dev/null
start_cache dray
pull dray "$WORK/viadray" >/dev/null
diff -r "$WORK/direct" "$WORK/viadray" >/dev/null ||
	die "the image pulled through dray differs from the upstream's"

m() { median "${T[$1]}"; }
mkdir -p "$RESULTS"
OUT=$RESULTS/sync-$(date -u +%Y%m%d-%H%M)-$(hostname -s).md
{
	echo "# pull-through: cold and warm pulls through dray and Distribution's proxy"
	echo
	echo "$(date -u '+%F %T UTC'), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -r)"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "dray: $DRAY_BIN ($("$DRAY_BIN" --version)); upstream and proxy: $(docker-registry --version 2>&1 | head -n 1)"
	echo "image: 4 layers of $LAYER_MIB MiB, $BLOBS blobs, $SIZE bytes; skopeo copy docker:// dir:, $RUNS runs each, order flipped every run"
	echo
	echo "| pull | seconds (median) | throughput vs direct |"
	echo "|---|---|---|"
	echo "| direct from the upstream | $(m cold-direct) | 1.00 |"
	echo "| cold, through dray | $(m cold-dray) | $(ratio "$(m cold-direct)" "$(m cold-dray)") |"
	echo "| cold, through Distribution's proxy | $(m cold-dist) | $(ratio "$(m cold-direct)" "$(m cold-dist)") |"
	echo "| warm, from dray | $(m warm-dray) | $(ratio "$(m cold-direct)" "$(m warm-dray)") |"
	echo "| warm, from Distribution's proxy | $(m warm-dist) | $(ratio "$(m cold-direct)" "$(m warm-dist)") |"
	echo
	echo "Cold through dray against cold through Distribution's proxy: $(ratio "$(m cold-dist)" "$(m cold-dray)")x the throughput"
	echo
	echo "$CLIENTS clients at once, both caches empty ($BLOBS blobs; 1 transfer each is ideal):"
	echo
	echo "| through | upstream blob transfers | slowest client, s |"
	echo "|---|---|---|"
	echo "| dray | ${FAN[dray]} | ${FAN[t-dray]} |"
	echo "| Distribution's proxy | ${FAN[dist]} | ${FAN[t-dist]} |"
	echo
	echo "The image pulled through dray is bit-identical to the upstream's (diff -r of the two dir: copies)."
	echo
	echo "Raw runs (seconds):"
	echo
	for k in cold-direct cold-dray cold-dist warm-dray warm-dist; do
		echo "- $k: ${T[$k]}"
	done
} | tee "$OUT"
