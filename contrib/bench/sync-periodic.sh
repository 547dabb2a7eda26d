#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# contrib/bench/sync-periodic.sh - a periodic sync with nothing changed
# upstream: Debian's docker-registry (Distribution) holds SP_REPOS
# repositories of SP_TAGS tags each (a small image per tag, one layer
# shared by the repository); dray mirrors them all every pollInterval
# (1 s: runs back to back). The first run brings everything; each later
# run finds every tag here with the upstream's digest. Reported: the
# first run, then the median of SP_RUNS later runs: wall time (dray's
# "sync run done" log line), upstream requests (the upstream's access
# log, checked against dray's dray_sync_upstream_requests_total), and
# requests per tag. The report goes to stdout and
# $SP_RESULTS/sync-periodic-<date>-<host>.md.
#
# Environment (defaults in brackets):
#   DRAY_BIN    dray to measure, a Release build [build-rel/dray]
#   SP_REPOS    repositories [100]
#   SP_TAGS     tags per repository [10]
#   SP_RUNS     later runs, median reported [5]
#   SP_RESULTS  directory for the report [contrib/bench/results]
#   SP_KEEP     1 = keep the work directory [0]
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
DRAY_BIN=${DRAY_BIN:-$TOP/build-rel/dray}
REPOS=${SP_REPOS:-100}
TAGS=${SP_TAGS:-10}
RUNS=${SP_RUNS:-5}
RESULTS=${SP_RESULTS:-$HERE/results}
KEEP=${SP_KEEP:-0}

die() {
	echo "sync-periodic-bench: $*" >&2
	exit 1
}

[[ -x $DRAY_BIN ]] || die "no dray at $DRAY_BIN (set DRAY_BIN)"
for t in docker-registry curl jq sha256sum ss xargs; do
	command -v "$t" >/dev/null || die "$t missing (contrib/install-deps.sh)"
done
ldd "$DRAY_BIN" | grep -q 'libasan\|libubsan' &&
	echo "sync-periodic-bench: warning: $DRAY_BIN links a sanitizer" >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-sync-periodic-bench.XXXXXX")
# shellcheck source=contrib/bench/lib.sh
. "$HERE/lib.sh"
trap bench_cleanup EXIT

# --- the upstream and its SP_REPOS x SP_TAGS images
DIST_ACCESSLOG=1 retry start_dist up
UP=http://127.0.0.1:${PORT[up]}
SRC=$WORK/src
mkdir -p "$SRC"

# blob FILE REPO: upload FILE as a blob of REPO (POST, then one PUT).
blob() {
	local d loc
	d=sha256:$(sha256sum <"$1" | cut -d' ' -f1)
	loc=$(curl -sf -o /dev/null -D - -X POST "$UP/v2/$2/blobs/uploads/" |
		tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
	[[ -n $loc ]] || die "no upload session for $2"
	[[ $loc == http* ]] || loc=$UP$loc
	[[ $loc == *\?* ]] && loc+="&digest=$d" || loc+="?digest=$d"
	curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
		--data-binary "@$1" "$loc" || die "blob $d into $2"
}

# populate I: repository bench/rI, its layer, config and SP_TAGS manifests
# (each its own: the tag is an annotation).
populate() {
	local i=$1 r=bench/r$1 l c t ld cd m
	l=$SRC/layer-$i c=$SRC/config-$i
	head -c 4096 /dev/urandom >"$l"
	ld=sha256:$(sha256sum <"$l" | cut -d' ' -f1)
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
		"$ld" >"$c"
	cd=sha256:$(sha256sum <"$c" | cut -d' ' -f1)
	blob "$l" "$r"
	blob "$c" "$r"
	for ((t = 0; t < TAGS; t++)); do
		m=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":4096}],"annotations":{"tag":"v%d"}}' \
			"$cd" "$(stat -c %s "$c")" "$ld" "$t")
		curl -sf -o /dev/null -X PUT \
			-H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
			--data-binary "$m" "$UP/v2/$r/manifests/v$t" ||
			die "manifest $r:v$t"
	done
}
export -f populate blob die
export SRC UP TAGS
t0=$(date +%s)
seq 0 $((REPOS - 1)) | xargs -P 4 -I{} bash -c 'populate {}'
echo "upstream: $REPOS repositories x $TAGS tags pushed in $(($(date +%s) - t0)) s" >&2

# --- dray, mirroring it every second
D=$WORK/dray
mkdir -p "$D/root"
P=$(free_port)
cat >"$D/dray.yaml" <<EOC
http: {address: 127.0.0.1, port: $P}
storage: {rootDirectory: $D/root}
log: {level: info, output: $D/log}
extensions:
  metrics:
    enable: true
    prometheus: {path: /metrics}
  sync:
    registries:
      - urls: ["$UP"]
        pollInterval: 1s
        onDemand: false
EOC
# requests: lines of the upstream's access log so far.
requests() { grep -c '"[A-Z]* /v2/' "$WORK/up/log" || true; }
before=$(requests)
"$DRAY_BIN" serve "$D/dray.yaml" >"$D/out" 2>&1 &
PIDS+=($!)
DPID=$!

# done_lines: dray's "sync run done" lines so far.
done_lines() { grep -c 'sync run done' "$D/log" 2>/dev/null || true; }
# wait_runs N: until N runs are done (a run of this size takes seconds).
wait_runs() {
	local i n
	for ((i = 0; i < 6000; i++)); do
		n=$(done_lines)
		((${n:-0} >= $1)) && return 0
		kill -0 "$DPID" 2>/dev/null || die "dray exited: $(tail -n 3 "$D/out")"
		sleep 0.1
	done
	die "fewer than $1 sync runs in 600 s"
}
# field N RE: what RE's group catches in run N's "sync run done" line.
field() {
	grep 'sync run done' "$D/log" | sed -n "${1}p" | sed -E "s/.*$2.*/\\1/"
}
run_line() { field "$1" 'sync run done: ([^"]*)'; }

wait_runs 1
first_line=$(run_line 1)
grep -q "$((REPOS * TAGS)) mirrored, 0 here already, 0 failed" <<<"$first_line" ||
	die "the first run did not mirror all: $first_line"
first_ms=$(field 1 ' in ([0-9]+) ms')
first_req=$(field 1 ' ([0-9]+) upstream requests')
declare -a MS REQ
for ((n = 2; n <= RUNS + 1; n++)); do
	wait_runs "$n"
	line=$(run_line "$n")
	grep -q "0 mirrored, $((REPOS * TAGS)) here already, 0 failed" <<<"$line" ||
		die "run $n was no nothing-changed run: $line"
	MS+=("$(field "$n" ' in ([0-9]+) ms')")
	REQ+=("$(field "$n" ' ([0-9]+) upstream requests')")
	echo "  run $n: ${MS[-1]} ms, ${REQ[-1]} upstream requests" >&2
done
scraped=$(curl -s "http://127.0.0.1:$P/metrics" |
	awk '$1 ~ /^dray_sync_upstream_requests_total\{/ { s += $2 } END { print s }')
kill -TERM "$DPID"
wait "$DPID" 2>/dev/null || true
# Every request dray sent (its runs' lines, a last one stopped too)
# against what the upstream logged from dray's start to its stop.
sleep 0.5
logged=$(($(requests) - before))
sent=$(grep -E 'sync run (done|stopped)' "$D/log" |
	sed -E 's/.* ([0-9]+) upstream requests in .*/\1/' | awk '{ s += $1 } END { print s }')
[[ $logged == "$sent" ]] ||
	echo "sync-periodic-bench: warning: the upstream logged $logged requests, dray's runs say $sent" >&2

ms=$(median "${MS[*]}")
req=$(median "${REQ[*]}")
mkdir -p "$RESULTS"
OUT=$RESULTS/sync-periodic-$(date -u +%Y%m%d-%H%M)-$(hostname -s).md
{
	echo "# periodic sync, nothing changed upstream: $REPOS repositories x $TAGS tags"
	echo
	echo "$(date -u '+%F %T UTC'), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -r)"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "dray: $DRAY_BIN ($("$DRAY_BIN" --version)); upstream: $(docker-registry --version 2>&1 | head -n 1) over plain HTTP on loopback"
	echo "pollInterval 1s (runs back to back); $RUNS later runs, median reported"
	echo
	echo "| run | wall time, s | upstream requests | requests per tag |"
	echo "|---|---|---|---|"
	echo "| first (brings $((REPOS * TAGS)) tags) | $(awk -v m="$first_ms" 'BEGIN { printf "%.2f", m / 1000 }') | $first_req | $(ratio "$first_req" $((REPOS * TAGS))) |"
	echo "| later, nothing changed (median) | $(awk -v m="$ms" 'BEGIN { printf "%.2f", m / 1000 }') | $req | $(ratio "$req" $((REPOS * TAGS))) |"
	echo
	echo "A nothing-changed run against the first: $(ratio "$ms" "$first_ms")x its time, $(ratio "$req" "$first_req")x its requests."
	echo "Upstream requests counted: dray's run lines say $sent in all, the upstream's access log $logged (from dray's start to its stop); dray_sync_upstream_requests_total summed right after the last measured run (the next one under way): $scraped."
	echo
	echo "Raw later runs: ${MS[*]} ms; ${REQ[*]} requests"
} | tee "$OUT"
