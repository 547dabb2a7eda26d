#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# contrib/bench/faildelay.sh - what 1,000 concurrent bad logins do to a
# valid client's latency: dray with http.auth.failDelay, beside dray
# without it and Distribution (Debian's docker-registry 2.8, which has no
# failDelay and verifies bcrypt on every request), the same htpasswd file
# (`htpasswd -B`, cost 5) for all, in one run.
#
#   dray-fd     http.auth.htpasswd, http.auth.failDelay FD_DELAY s
#   dray-fd0    the same without failDelay (what the delay changes)
#   dist        Distribution with auth.htpasswd
#
# For each server, in each run: the good client (headload, FD_GOOD keep-
# alive connections, GET /v2/ with valid credentials) alone for FD_SECONDS;
# then FD_BAD keep-alive connections that each send a wrong password again
# as soon as they are answered, spread over FD_SOURCES loopback source
# addresses (headload -s: 127.0.0.1, 127.0.0.2, ...; dray's
# http.maxConnectionsPerClient is left at its default of 512 unless an
# address brings more than 200) and, once
# they are all connected and FD_WARMUP s have passed, the good client again
# for FD_SECONDS, while the server's threads and RSS are sampled from
# /proc. The order of the servers flips from run to run; the figures are
# medians over FD_RUNS runs. The good client must see only 2xx answers
# (or none: a starved client shows as its unanswered requests' age).
#
# Environment (defaults in brackets):
#   DRAY_BIN      dray to measure, a Release build [build-bench/dray]
#   FD_RUNS       runs [5]
#   FD_SECONDS    seconds per measurement of the good client [5]
#   FD_GOOD       good client connections [8]
#   FD_BAD        connections sending wrong credentials [1000]
#   FD_SOURCES    loopback source addresses they come from [4]
#   FD_DELAY      dray's failDelay, seconds [2]
#   FD_WARMUP     seconds of flood before the good client starts [3]
#   FD_INTERVAL   us between requests each good connection means to send,
#                 for headload -i (coordinated omission) [10000]
#   FD_SERVERS    which of them to measure [dray-fd dray-fd0 dist]
#   FD_RESULTS    directory for the report [contrib/bench/results]
#   FD_FRESH      1 = every bad login a password never tried before
#                 (headload -U: a brute force; each costs a bcrypt), 0 = the
#                 same wrong password again (a stale secret) [0]
#   FD_KEEP       1 = keep the work directory [0]
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
DRAY_BIN=${DRAY_BIN:-$TOP/build-bench/dray}
RUNS=${FD_RUNS:-5}
SECS=${FD_SECONDS:-5}
GOOD=${FD_GOOD:-8}
BAD=${FD_BAD:-1000}
SOURCES=${FD_SOURCES:-4}
DELAY=${FD_DELAY:-2}
WARMUP=${FD_WARMUP:-3}
INTERVAL=${FD_INTERVAL:-10000}
RESULTS=${FD_RESULTS:-$HERE/results}
KEEP=${FD_KEEP:-0}
FRESH=${FD_FRESH:-0}

die() {
	echo "faildelay: $*" >&2
	exit 1
}

[[ -x $DRAY_BIN ]] || die "no dray at $DRAY_BIN (set DRAY_BIN)"
for t in docker-registry htpasswd curl cc ss; do
	command -v "$t" >/dev/null || die "$t missing (contrib/install-deps.sh --bench)"
done
((BAD + GOOD + 64 <= $(ulimit -n))) || ulimit -n $((BAD + GOOD + 1024)) ||
	die "need $((BAD + GOOD + 64)) file descriptors (ulimit -n)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-bench-faildelay.XXXXXX")
. "$HERE/lib.sh"
trap bench_cleanup EXIT

cc -O2 -o "$WORK/headload" "$HERE/headload.c" || die "cannot build headload"
htpasswd -B -c -b "$WORK/htpasswd" bench bench-pw 2>/dev/null
GOOD_AUTH="Authorization: Basic $(printf bench:bench-pw | base64 -w0)"
BAD_AUTH="Authorization: Basic $(printf bench:wrong-pw | base64 -w0)"
BAD_ARGS=(-H "$BAD_AUTH")
[[ $FRESH == 1 ]] && BAD_ARGS=(-U bench)

# start_dray_fd NAME FAILDELAY: with FD_SOURCES addresses the default
# http.maxConnectionsPerClient (512, split over the 2 listener threads)
# holds up to 200 flood connections per address; past that it is raised
# so that either thread can take all of one address's.
start_dray_fd() {
	local per=$(((BAD + SOURCES - 1) / SOURCES)) cap=()
	((per <= 200)) || cap=("  maxConnectionsPerClient: $((2 * per + GOOD))")
	start_dray "$1" "  maxConnections: $((BAD + GOOD + 100))" "${cap[@]}" \
		"  auth: {htpasswd: {path: $WORK/htpasswd}, failDelay: $2}"
}
retry start_dray_fd dray-fd "$DELAY"
retry start_dray_fd dray-fd0 0
retry start_dist dist "$WORK/htpasswd"
for s in dray-fd dray-fd0 dist; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -u bench:bench-pw \
		"http://127.0.0.1:${PORT[$s]}/v2/")
	[[ $code == 200 ]] || die "$s: GET /v2/ with valid credentials: $code"
	code=$(curl -s -o /dev/null -w '%{http_code}' -u bench:wrong-pw \
		"http://127.0.0.1:${PORT[$s]}/v2/")
	[[ $code == 401 ]] || die "$s: GET /v2/ with a wrong password: $code"
done

field() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<<" $2"; }

# established PORT: connections the server on PORT has accepted.
established() {
	ss -Htn state established "sport = :$1" 2>/dev/null | wc -l
}

# sample PID OUT: until killed, the largest thread count and VmRSS (KiB)
# of PID, every 0.2 s, rewritten into OUT.
sample() {
	local pid=$1 out=$2 th=0 rss=0 t r
	while [[ -r /proc/$pid/status ]]; do
		t=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || break
		r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || break
		((${t:-0} > th)) && th=$t
		((${r:-0} > rss)) && rss=$r
		echo "$th $rss" >"$out"
		sleep 0.2
	done
}

# good PORT: one measurement of the good client. With -i, a request not
# answered by the end counts with its age, and a slow answer also counts
# the requests its connection would have sent meanwhile, so a starved
# client shows in p99 (headload exits 1 when nothing was answered).
# cpu_top2 PID BEFORE AFTER (thread_ticks files): "CORES TOP2 NAMES", the
# CPU the server used over the good client's window in cores, the share
# (%) of it that its two busiest threads had, and their names.
cpu_top2() {
	local cores top tids names='' t
	read -r cores top tids < <(sort -k2,2nr <(awk 'NR == FNR { b[$1] = $2; next }
		{ print $1, $2 - b[$1] }' "$2" "$3") |
		awk -v hz="$(getconf CLK_TCK)" -v secs="$SECS" \
			'{ s += $2; if (NR <= 2) { t += $2; ids = ids "," $1 } }
		END { printf "%.2f %.0f %s\n", s / hz / secs, s ? 100 * t / s : 0, ids }')
	for t in ${tids//,/ }; do
		names+=${names:+,}$(cat "/proc/$1/task/$t/comm" 2>/dev/null || echo "?")
	done
	echo "$cores $top ${names:-?}"
}

# settle: wait (60 s at most) until the servers are idle, under 5% of a
# core over 0.5 s: a server may still be verifying the last flood's
# passwords after its client has gone, which would slow the next one.
settle() {
	local i a b hz
	hz=$(getconf CLK_TCK)
	for ((i = 0; i < 120; i++)); do
		a=$(thread_ticks "${SPID[@]}" | awk '{ s += $2 } END { print s + 0 }')
		sleep 0.5
		b=$(thread_ticks "${SPID[@]}" | awk '{ s += $2 } END { print s + 0 }')
		((20 * (b - a) <= hz)) && return 0
	done
	echo "  servers still busy after 60 s" >&2
	UNSETTLED=$((UNSETTLED + 1))
}
UNSETTLED=0

good() {
	"$WORK/headload" -m GET -c "$GOOD" -d "$SECS" -i "$INTERVAL" \
		-H "$GOOD_AUTH" "http://127.0.0.1:$1/v2/" || true
}

declare -A RAW
# measure NAME: the good client alone, then under the flood.
measure() {
	local s=$1 port=${PORT[$1]} pid=${SPID[$1]} out bad smp i n
	settle
	out=$(good "$port")
	[[ $(field non2xx "$out") == 0 && $(field errors "$out") == 0 ]] ||
		die "$s alone: non-2xx or errors: $out"
	echo "  $s alone:   $out" >&2
	RAW[$s.idle]+=" $(field p50_us "$out"):$(field p99_us "$out"):$(field rps "$out")"
	read -r i n < <(awk '/^Threads:/ { t = $2 } /^VmRSS:/ { r = $2 } END { print t, r }' "/proc/$pid/status")
	RAW[$s.idle_res]+=" $i:$n"

	"$WORK/headload" -m GET -c "$BAD" -s "$SOURCES" \
		-d $((WARMUP + SECS + 60)) "${BAD_ARGS[@]}" \
		"http://127.0.0.1:$port/v2/" >"$WORK/bad.out" 2>&1 &
	bad=$!
	# All BAD connections accepted (bounded: 60 s), then the warm-up.
	for ((i = 0; i < 600; i++)); do
		n=$(established "$port")
		((n >= BAD)) && break
		kill -0 "$bad" 2>/dev/null || die "$s: flood client exited: $(cat "$WORK/bad.out")"
		sleep 0.1
	done
	((n >= BAD)) || die "$s: only $n of $BAD bad-login connections accepted"
	sleep "$WARMUP"
	sample "$pid" "$WORK/sample" &
	smp=$!
	thread_ticks "$pid" >"$WORK/ticks0"
	out=$(good "$port")
	thread_ticks "$pid" >"$WORK/ticks1"
	kill "$smp" 2>/dev/null || true
	wait "$smp" 2>/dev/null || true
	kill -TERM "$bad" 2>/dev/null || true # headload prints and exits
	wait "$bad" 2>/dev/null || true
	[[ $(field non2xx "$out") == 0 && $(field errors "$out") == 0 ]] ||
		die "$s flooded: non-2xx or errors: $out"
	echo "  $s flooded: $out (threads, RSS KiB: $(cat "$WORK/sample"))" >&2
	RAW[$s.flood]+=" $(field p50_us "$out"):$(field p99_us "$out"):$(field rps "$out")"
	RAW[$s.flood_res]+=" $(tr ' ' : <"$WORK/sample")"
	RAW[$s.cpu]+=" $(cpu_top2 "$pid" "$WORK/ticks0" "$WORK/ticks1" | tr ' ' :)"
	out=$(tail -n 1 "$WORK/bad.out")
	[[ $out == requests=* ]] || die "$s: the flood client failed: $(cat "$WORK/bad.out")"
	echo "  $s bad:     $out" >&2
	RAW[$s.bad]+=" $(field rps "$out"):$(field p50_us "$out")"
}

read -r -a ORDER <<<"${FD_SERVERS:-dray-fd dray-fd0 dist}"
interleave "$RUNS" measure "${ORDER[@]}"

col() { tr ' ' '\n' <<<"$1" | grep . | cut -d: -f"$2" | tr '\n' ' '; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }

mkdir -p "$RESULTS"
REPORT=$RESULTS/faildelay-$(date -u +%Y%m%d-%H%M)-$(hostname -s).md
{
	echo "# failDelay: a valid client's latency under $BAD concurrent bad logins"
	echo
	echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- dray: $DRAY_BIN ($("$DRAY_BIN" --version 2>&1 | head -n 1)), failDelay $DELAY s (dray-fd) and 0 (dray-fd0)"
	echo "- peer: $(docker-registry --version 2>&1 | head -n 1), auth.htpasswd (no failDelay)"
	echo "- the same htpasswd file (htpasswd -B, cost 5) for all"
	echo "- good client: GET /v2/ with valid credentials, headload, $GOOD keep-alive"
	echo "  connections, $SECS s, latencies corrected for coordinated omission"
	echo "  (headload -i $INTERVAL: each connection meant to send every $((INTERVAL / 1000)) ms;"
	echo "  unanswered requests count with their age); flood: $BAD keep-alive connections from $SOURCES"
	if [[ $FRESH == 1 ]]; then
		echo "  loopback addresses, each sending a wrong password never tried before"
	else
		echo "  loopback addresses, each sending the same wrong password again"
	fi
	echo "  as soon as answered, all accepted and ${WARMUP} s old before the good client starts"
	echo "- medians of $RUNS interleaved runs"
	echo
	echo "| server | idle p50 ms | idle p99 ms | flood p50 ms | flood p99 ms | p99 flood / idle | idle req/s | flood req/s | bad logins answered/s | bad login p50 ms | threads idle / flood | RSS MiB idle / flood | server CPU in flood, cores | 2 busiest threads' share (names, first run) |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for s in "${ORDER[@]}"; do
		i50=$(median "$(col "${RAW[$s.idle]}" 1)")
		i99=$(median "$(col "${RAW[$s.idle]}" 2)")
		ir=$(median "$(col "${RAW[$s.idle]}" 3)")
		f50=$(median "$(col "${RAW[$s.flood]}" 1)")
		f99=$(median "$(col "${RAW[$s.flood]}" 2)")
		fr=$(median "$(col "${RAW[$s.flood]}" 3)")
		it=$(median "$(col "${RAW[$s.idle_res]}" 1)")
		im=$(median "$(col "${RAW[$s.idle_res]}" 2)")
		ft=$(median "$(col "${RAW[$s.flood_res]}" 1)")
		fm=$(median "$(col "${RAW[$s.flood_res]}" 2)")
		# the per-run ratio's median, not the ratio of medians
		pr=$(for ((k = 1; k <= RUNS; k++)); do
			ratio "$(col "${RAW[$s.flood]}" 2 | cut -d' ' -f$k)" \
				"$(col "${RAW[$s.idle]}" 2 | cut -d' ' -f$k)"
			echo
		done)
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %.1f / %.1f | %s | %s%% (%s) |\n' \
			"$s" "$(ms "$i50")" "$(ms "$i99")" "$(ms "$f50")" "$(ms "$f99")" \
			"$(median "$pr")" "$ir" "$fr" \
			"$(median "$(col "${RAW[$s.bad]}" 1)")" \
			"$(ms "$(median "$(col "${RAW[$s.bad]}" 2)")")" "$it" "$ft" \
			"$(awk -v k="$im" 'BEGIN { print k / 1024 }')" \
			"$(awk -v k="$fm" 'BEGIN { print k / 1024 }')" \
			"$(median "$(col "${RAW[$s.cpu]}" 1)")" \
			"$(median "$(col "${RAW[$s.cpu]}" 2)")" \
			"$(col "${RAW[$s.cpu]}" 3 | cut -d' ' -f1)"
	done
	echo
	((UNSETTLED == 0)) ||
		echo "WARNING: $UNSETTLED times the servers were still busy after 60 s; figures disturbed."
	echo
	echo "p99 flood / idle is the median over runs of each run's ratio. Bad logins"
	echo "answered/s and their p50 are the flood client's, over its whole run"
	echo "(connecting, warm-up and the good client's window)."
	echo
	echo "## Raw, per run (p50_us:p99_us:req/s; threads:RSS KiB)"
	echo
	for s in "${ORDER[@]}"; do
		echo "- $s idle:${RAW[$s.idle]}"
		echo "- $s flood:${RAW[$s.flood]}"
		echo "- $s idle threads:RSS:${RAW[$s.idle_res]}"
		echo "- $s flood threads:RSS:${RAW[$s.flood_res]}"
		echo "- $s bad logins req/s:p50_us:${RAW[$s.bad]}"
		echo "- $s flood CPU cores:2 busiest threads %:their names:${RAW[$s.cpu]}"
	done
} | tee "$REPORT"
echo "faildelay: report in $REPORT" >&2
