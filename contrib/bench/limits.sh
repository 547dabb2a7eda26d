#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# contrib/bench/limits.sh - what two floods of anonymous requests make a
# registry hold: dray side by side with Distribution (Debian's
# docker-registry 2.8), each on its own loopback port, in one run.
#
#   sessions  POST /v2/flood/a/blobs/uploads/ LIMITS_POSTS times, every
#             session abandoned; then SIGTERM, timed until the exit
#   names     GET /v2/flood/<random>/manifests/latest LIMITS_GETS times,
#             a different missing name each time; RSS after 10% and 100%
#
# For each: the answers by status, the server's RSS and open files
# (/proc/<pid>/status, /proc/<pid>/fd) before and after, and the time.
# A markdown table goes to stdout and to $LIMITS_RESULTS/limits-<date>.md.
#
# Environment (defaults in brackets):
#   DRAY_BIN        dray to measure, best a Release build [build/dray]
#   LIMITS_POSTS    sessions to open [20000]
#   LIMITS_GETS     missing-name GETs [300000]
#   LIMITS_CONNS    client connections [4]
#   LIMITS_PEER     0 = measure dray alone (e.g. an older build) [1]
#   LIMITS_RESULTS  directory for the report [contrib/bench/results]
#   LIMITS_KEEP     1 = keep the work directory [0]
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
DRAY_BIN=${DRAY_BIN:-$TOP/build/dray}
POSTS=${LIMITS_POSTS:-20000}
GETS=${LIMITS_GETS:-300000}
CONNS=${LIMITS_CONNS:-4}
PEER=${LIMITS_PEER:-1}
RESULTS=${LIMITS_RESULTS:-$HERE/results}
KEEP=${LIMITS_KEEP:-0}

die() {
	echo "limits: $*" >&2
	exit 1
}

[[ -x $DRAY_BIN ]] || die "no dray at $DRAY_BIN (set DRAY_BIN)"
[[ $PEER == 0 ]] || command -v docker-registry >/dev/null ||
	die "docker-registry missing: apt-get install docker-registry"
command -v cc >/dev/null || die "cc missing"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-limits.XXXXXX")
PID=
cleanup() {
	if [[ -n $PID ]]; then
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	[[ $KEEP == 1 ]] && echo "limits: work dir kept: $WORK" >&2 ||
		rm -rf "$WORK"
}
trap cleanup EXIT

cc -O2 -pthread -o "$WORK/flood" "$TOP/tests/tools/flood.c" ||
	die "cannot build flood"

free_port() {
	local p
	for ((;;)); do
		p=$((20000 + RANDOM % 30000))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . || break
	done
	echo "$p"
}

rss_mib() {
	awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

fds() {
	local f=("/proc/$1/fd"/*)
	echo "${#f[@]}"
}

ms_now() {
	echo $(($(date +%s%N) / 1000000))
}

wait_up() {
	local i
	for ((i = 0; i < 200; i++)); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/v2/" &&
			return 0
		kill -0 "$PID" 2>/dev/null || die "server exited at start"
		sleep 0.1
	done
	die "server on port $1 did not answer"
}

# start NAME: a fresh server with an empty root; sets PID, PORT, ROOT.
start() {
	local d=$WORK/$1.$RANDOM
	ROOT=$d/root
	mkdir -p "$d/root"
	PORT=$(free_port)
	if [[ $1 == dray ]]; then
		cat >"$d/dray.yaml" <<EOF
http: {address: 127.0.0.1, port: $PORT}
storage: {rootDirectory: $d/root}
log: {level: error, output: $d/log}
EOF
		"$DRAY_BIN" serve "$d/dray.yaml" >"$d/out" 2>&1 &
	else
		cat >"$d/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $d/root}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: "127.0.0.1:$PORT", secret: dray-limits-secret}
EOF
		docker-registry serve "$d/config.yml" >"$d/log" 2>&1 &
	fi
	PID=$!
	wait_up "$PORT"
}

# stop: SIGTERM and wait (60 s at most); the time in STOP_MS, or
# "killed" when it had to be SIGKILLed.
stop() {
	local t0 i
	t0=$(ms_now)
	kill -TERM "$PID"
	for ((i = 0; i < 600; i++)); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$PID" 2>/dev/null; then
		STOP_MS=killed
		kill -KILL "$PID"
	else
		STOP_MS=$(($(ms_now) - t0))
	fi
	wait "$PID" 2>/dev/null || true
	PID=
}

flood() {
	"$WORK/flood" -p "$PORT" -c "$CONNS" "$@" || true
}

declare -A R
measure() {
	local s=$1 t0 out
	# --- sessions
	start "$s"
	curl -s -o /dev/null -X POST -H 'Content-Length: 0' \
		"http://127.0.0.1:$PORT/v2/warm/up/blobs/uploads/"
	R[$s.post.rss0]=$(rss_mib "$PID")
	R[$s.post.fd0]=$(fds "$PID")
	t0=$(ms_now)
	out=$(flood -n "$POSTS" post flood/a)
	R[$s.post.ms]=$(($(ms_now) - t0))
	R[$s.post.out]=$out
	R[$s.post.rss1]=$(rss_mib "$PID")
	R[$s.post.fd1]=$(fds "$PID")
	stop
	R[$s.post.stop]=$STOP_MS
	R[$s.post.files]=$(find "$ROOT" -type f | wc -l)
	# --- missing names
	start "$s"
	R[$s.get.rss0]=$(rss_mib "$PID")
	t0=$(ms_now)
	flood -n $((GETS / 10)) get >/dev/null
	R[$s.get.rss10]=$(rss_mib "$PID")
	out=$(flood -n $((GETS - GETS / 10)) get)
	R[$s.get.ms]=$(($(ms_now) - t0))
	R[$s.get.out]=$out
	R[$s.get.rss100]=$(rss_mib "$PID")
	R[$s.get.fd]=$(fds "$PID")
	stop
}

measure dray
[[ $PEER == 0 ]] || measure dist

row() {
	printf '| %s | %s | %s |\n' "$1" "${R[dray.$2]}" "${R[dist.$2]:--}"
}

mkdir -p "$RESULTS"
REPORT=$RESULTS/limits-$(date -u +%Y%m%d-%H%M)-$(hostname -s).md
{
	echo "# Floods of anonymous requests: what the server holds"
	echo
	echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r)"
	echo "- dray: $DRAY_BIN ($("$DRAY_BIN" --version 2>&1 | head -n 1))"
	echo "- peer: $(docker-registry --version 2>&1 | head -n 1)"
	echo "- client: tests/tools/flood.c, $CONNS keep-alive connections"
	echo
	echo "## $POSTS upload sessions opened and abandoned"
	echo
	echo "| figure | dray | docker-registry |"
	echo "|---|---|---|"
	row "answers" post.out
	row "RSS before, MiB" post.rss0
	row "RSS after, MiB" post.rss1
	row "open files before" post.fd0
	row "open files after" post.fd1
	row "flood time, ms" post.ms
	row "SIGTERM to exit, ms" post.stop
	row "files in the storage root after" post.files
	echo
	echo "## $GETS GETs of random missing names"
	echo
	echo "| figure | dray | docker-registry |"
	echo "|---|---|---|"
	row "answers (the last 90%)" get.out
	row "RSS at start, MiB" get.rss0
	row "RSS after 10%, MiB" get.rss10
	row "RSS after 100%, MiB" get.rss100
	row "open files after" get.fd
	row "flood time, ms" get.ms
} | tee "$REPORT"
echo "limits: report in $REPORT" >&2
