# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# contrib/bench/lib.sh - helpers shared by the benchmark scripts (sourced).
# The script defines die(), sets WORK (its mktemp -d directory) and KEEP
# (1: keep WORK), and appends the PID of every server it starts to PIDS;
# bench_cleanup, its EXIT trap, stops them and removes WORK. run.sh
# sources it for thread_ticks and cpu_delta (its own free_port,
# start_dray and start_dist, defined later, replace these).

PIDS=()
declare -A PORT SPID # server name: its port, its PID

bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[[ $KEEP == 1 ]] && echo "work dir kept: $WORK" >&2 || rm -rf "$WORK"
}

free_port() {
	local p
	for ((;;)); do
		p=$((20000 + RANDOM % 30000))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . || break
	done
	echo "$p"
}

wait_up() { # wait_up PORT PID
	local i
	for ((i = 0; i < 200; i++)); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/v2/" &&
			return 0
		kill -0 "$2" 2>/dev/null || return 1 # port taken meanwhile?
		sleep 0.1
	done
	die "server on port $1 did not answer"
}

# start_dray NAME [LINE...]: $DRAY_BIN on a free port of 127.0.0.1, each
# LINE added to its http section ("  auth: ..."); sets PORT and SPID.
start_dray() {
	local d=$WORK/$1 p
	mkdir -p "$d/root"
	p=$(free_port)
	{
		printf 'http:\n  address: 127.0.0.1\n  port: %s\n' "$p"
		[[ $# -lt 2 ]] || printf '%s\n' "${@:2}"
		printf 'storage: {rootDirectory: %s}\n' "$d/root"
		printf 'log: {level: error, output: %s}\n' "$d/log"
	} >"$d/dray.yaml"
	"$DRAY_BIN" serve "$d/dray.yaml" >"$d/out" 2>&1 &
	PIDS+=($!)
	wait_up "$p" "$!" || return 1
	PORT[$1]=$p
	SPID[$1]=$!
}

# start_dist NAME [HTPASSWD [EXTRA]]: Distribution (docker-registry) on a
# free port, with auth.htpasswd when HTPASSWD is given (may be ""), and
# the YAML line EXTRA (proxy: ...); its access log goes to WORK/NAME/log
# when DIST_ACCESSLOG=1. Sets PORT and SPID.
start_dist() {
	local d=$WORK/$1 p a= acc=true
	mkdir -p "$d/root"
	p=$(free_port)
	[[ -z ${2:-} ]] || a="auth: {htpasswd: {realm: bench, path: $2}}"
	[[ ${DIST_ACCESSLOG:-0} != 1 ]] || acc=false
	cat >"$d/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: $acc}}
storage:
  filesystem: {rootdirectory: $d/root}
  cache: {blobdescriptor: inmemory}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: "127.0.0.1:$p", secret: dray-bench}
$a
${3:-}
EOF
	docker-registry serve "$d/config.yml" >"$d/log" 2>&1 &
	PIDS+=($!)
	wait_up "$p" "$!" || return 1
	PORT[$1]=$p
	SPID[$1]=$!
}

# retry CMD...: a server start, again on another port if the first exits.
retry() {
	local i
	for ((i = 0; i < 3; i++)); do
		"$@" && return 0
	done
	die "$* failed three times; see $WORK (keep it to look)"
}

# interleave RUNS FN NAME...: RUNS runs of FN NAME for every NAME, the
# order flipped from run to run.
interleave() {
	local runs=$1 fn=$2 r i
	shift 2
	for ((r = 0; r < runs; r++)); do
		echo "run $((r + 1))/$runs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
		if ((r % 2 == 0)); then
			for ((i = 1; i <= $#; i++)); do "$fn" "${!i}"; done
		else
			for ((i = $#; i >= 1; i--)); do "$fn" "${!i}"; done
		fi
	done
}

median() { # median "V V ...": the median of the numbers
	tr ' ' '\n' <<<"$1" | grep . | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# User+system CPU ticks of every thread of the given processes: "TID TICKS".
thread_ticks() {
	local p t line
	local -a f
	for p; do
		for t in /proc/"$p"/task/*; do
			read -r line <"$t/stat" 2>/dev/null || continue
			read -ra f <<<"${line##*) }"
			echo "${t##*/} $((f[11] + f[12]))"
		done
	done
}
# cpu_delta BEFORE AFTER: "TICKS TOP" with TOP the busiest thread's share (%).
cpu_delta() {
	awk 'NR == FNR { b[$1] = $2; next }
	{ d = $2 - b[$1]; s += d; if (d > m) m = d }
	END { printf "%d %.0f\n", s, s ? 100 * m / s : 0 }' "$1" "$2"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
