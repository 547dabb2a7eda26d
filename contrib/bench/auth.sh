#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# contrib/bench/auth.sh - what Basic authentication costs a small request:
# GET of one small manifest, anonymous and with credentials, for dray and
# for Distribution (Debian's docker-registry 2.8), in one run, with the
# same htpasswd file (`htpasswd -B`, bcrypt cost 5, Apache's default);
# then what http.auth.failDelay does for a valid client's latency while
# many connections keep sending wrong credentials.
#
#   dray        one server: http.auth.htpasswd, and an accessControl
#               whose "**" allows read to anonymous (anonymousPolicy)
#               and to users (defaultPolicy); both rates from it
#   dist-anon   Distribution without auth (its anonymous rate)
#   dist-auth   Distribution with auth.htpasswd (it verifies bcrypt on
#               every request)
#
# Each run measures every server one after the other (the order flips
# from run to run); the figures are medians over AUTH_RUNS runs. The
# client is contrib/bench/headload.c (keep-alive, fixed duration); a run
# with any non-2xx answer or error fails the script.
#
# Environment (defaults in brackets):
#   DRAY_BIN      dray to measure, a Release build [build-bench/dray]
#   AUTH_RUNS     runs [5]
#   AUTH_SECONDS  seconds per measurement [5]
#   AUTH_CONNS    client connections [16]
#   AUTH_RESULTS  directory for the report [contrib/bench/results]
#   AUTH_KEEP     1 = keep the work directory [0]
#   AUTH_FD_BAD   connections sending wrong credentials in the failDelay
#                 section, 0 = skip it [400: one client address may hold
#                 512 connections at most]
#   AUTH_FD_SECS  the failDelay measured against 0 [2]
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
DRAY_BIN=${DRAY_BIN:-$TOP/build-bench/dray}
RUNS=${AUTH_RUNS:-5}
SECS=${AUTH_SECONDS:-5}
CONNS=${AUTH_CONNS:-16}
RESULTS=${AUTH_RESULTS:-$HERE/results}
KEEP=${AUTH_KEEP:-0}
FDBAD=${AUTH_FD_BAD:-400}
FDSECS=${AUTH_FD_SECS:-2}

die() {
	echo "auth: $*" >&2
	exit 1
}

[[ -x $DRAY_BIN ]] || die "no dray at $DRAY_BIN (set DRAY_BIN)"
for t in docker-registry htpasswd curl cc; do
	command -v "$t" >/dev/null || die "$t missing (contrib/install-deps.sh --bench)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-bench-auth.XXXXXX")
. "$HERE/lib.sh"
trap bench_cleanup EXIT

cc -O2 -o "$WORK/headload" "$HERE/headload.c" || die "cannot build headload"
htpasswd -B -c -b "$WORK/htpasswd" bench bench-pw 2>/dev/null
CREDS=bench:bench-pw
AUTH="Authorization: Basic $(printf %s "$CREDS" | base64 -w0)"

# start_dray_auth [NAME FAILDELAY]: dray with htpasswd and read open to all.
start_dray_auth() {
	start_dray "${1:-dray}" "  maxConnections: 2000" \
		"  auth: {htpasswd: {path: $WORK/htpasswd}, failDelay: ${2:-0}}" \
		"  accessControl:" "    repositories:" \
		'      "**": {anonymousPolicy: [read], defaultPolicy: [read, create]}'
}
# push PORT [CURL_ARGS...]: a config blob and a manifest naming it, as
# bench/small:v1.
push() {
	local port=$1 url loc cfg='{"architecture":"amd64","os":"linux"}' d man
	shift
	url=http://127.0.0.1:$port
	d=sha256:$(printf %s "$cfg" | sha256sum | cut -d' ' -f1)
	loc=$(curl -sS -o /dev/null -D - -X POST -H 'Content-Length: 0' "$@" \
		"$url/v2/bench/small/blobs/uploads/" |
		tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
	[[ -n $loc ]] || die "no upload location from port $port"
	[[ $loc == http* ]] || loc=$url$loc
	curl -sSf -o /dev/null -X PUT --data-binary "$cfg" "$@" \
		-H 'Content-Type: application/octet-stream' \
		"$loc$([[ $loc == *\?* ]] && echo '&' || echo '?')digest=$d" ||
		die "blob push to port $port failed"
	man=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}' "$d" "${#cfg}")
	curl -sSf -o /dev/null -X PUT --data-binary "$man" "$@" \
		-H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		"$url/v2/bench/small/manifests/v1" ||
		die "manifest push to port $port failed"
}

retry start_dray_auth
retry start_dist dist-anon
retry start_dist dist-auth "$WORK/htpasswd"
push "${PORT[dray]}" -u "$CREDS"
push "${PORT[dist-anon]}"
push "${PORT[dist-auth]}" -u "$CREDS"

ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
declare -A RAW
# load NAME PORT [HEADER]: one measurement; its req/s appended to RAW[NAME].
load() {
	local name=$1 port=$2 out rps bad
	shift 2
	local hdr=(-H "$ACCEPT")
	[[ $# -eq 0 ]] || hdr+=(-H "$1")
	out=$("$WORK/headload" -m GET -c "$CONNS" -d "$SECS" "${hdr[@]}" \
		"http://127.0.0.1:$port/v2/bench/small/manifests/v1")
	rps=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$out")
	bad=$(sed -n 's/.*non2xx=\([0-9]*\) errors=\([0-9]*\).*/\1 \2/p' <<<"$out")
	[[ $bad == "0 0" ]] || die "$name: non-2xx or errors: $out"
	RAW[$name]="${RAW[$name]:-} $rps"
	echo "  $name: $out" >&2
}

ORDER=(dray-anon dray-auth dist-anon dist-auth)
measure() {
	case $1 in
	dray-anon) load "$1" "${PORT[dray]}" ;;
	dray-auth) load "$1" "${PORT[dray]}" "$AUTH" ;;
	dist-anon) load "$1" "${PORT[dist-anon]}" ;;
	dist-auth) load "$1" "${PORT[dist-auth]}" "$AUTH" ;;
	esac
}
interleave "$RUNS" measure "${ORDER[@]}"

# --- failDelay: a valid client's latency while BAD connections keep
# sending wrong credentials, with failDelay 0 and FD seconds.
declare -A FD
if [[ $FDBAD -gt 0 ]]; then
	retry start_dray_auth fd0 0
	retry start_dray_auth fdN "$FDSECS"
	for s in fd0 fdN; do
		push "${PORT[$s]}" -u "$CREDS"
		FD[$s.alone]=$("$WORK/headload" -m GET -c 16 -d "$SECS" -H "$ACCEPT" \
			-H "$AUTH" "http://127.0.0.1:${PORT[$s]}/v2/bench/small/manifests/v1")
		"$WORK/headload" -m GET -c "$FDBAD" -d $((SECS + 4)) -H "$ACCEPT" \
			-H "Authorization: Basic $(printf bench:wrong | base64 -w0)" \
			"http://127.0.0.1:${PORT[$s]}/v2/bench/small/manifests/v1" \
			>"$WORK/bad.$s" 2>&1 &
		bad=$!
		sleep 2
		FD[$s.attacked]=$("$WORK/headload" -m GET -c 16 -d "$SECS" -H "$ACCEPT" \
			-H "$AUTH" "http://127.0.0.1:${PORT[$s]}/v2/bench/small/manifests/v1")
		wait "$bad" || true
		FD[$s.bad]=$(cat "$WORK/bad.$s")
		echo "  $s alone: ${FD[$s.alone]}" >&2
		echo "  $s attacked: ${FD[$s.attacked]}" >&2
		echo "  $s bad: ${FD[$s.bad]}" >&2
	done
fi
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

declare -A MED
for s in "${ORDER[@]}"; do MED[$s]=$(median "${RAW[$s]}"); done

mkdir -p "$RESULTS"
REPORT=$RESULTS/auth-$(date -u +%Y%m%d-%H%M)-$(hostname -s).md
{
	echo "# Basic authentication: small-request rate, authenticated vs anonymous"
	echo
	echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- dray: $DRAY_BIN ($("$DRAY_BIN" --version 2>&1 | head -n 1))"
	echo "- peer: $(docker-registry --version 2>&1 | head -n 1)"
	echo "- GET /v2/bench/small/manifests/v1 (a 260-byte manifest), headload,"
	echo "  $CONNS keep-alive connections, ${SECS} s per measurement, median of $RUNS interleaved runs"
	echo "- the same htpasswd file (htpasswd -B, cost 5) for both"
	echo
	echo "| server | anonymous req/s | authenticated req/s | authenticated / anonymous |"
	echo "|---|---|---|---|"
	echo "| dray | ${MED[dray-anon]} | ${MED[dray-auth]} | $(ratio "${MED[dray-auth]}" "${MED[dray-anon]}") |"
	echo "| docker-registry | ${MED[dist-anon]} | ${MED[dist-auth]} | $(ratio "${MED[dist-auth]}" "${MED[dist-anon]}") |"
	echo
	echo "dray authenticated / docker-registry authenticated: $(ratio "${MED[dray-auth]}" "${MED[dist-auth]}")"
	echo
	echo "## Raw req/s per run"
	echo
	for s in "${ORDER[@]}"; do echo "- $s:${RAW[$s]}"; done
	if [[ $FDBAD -gt 0 ]]; then
		echo
		echo "## failDelay: a valid client while $FDBAD connections send wrong credentials"
		echo
		echo "16 connections with valid credentials, ${SECS} s; meanwhile $FDBAD keep-alive"
		echo "connections each send a wrong password again as soon as answered."
		echo
		echo "| dray | alone req/s | alone p99 ms | attacked req/s | attacked p99 ms | bad logins answered/s |"
		echo "|---|---|---|---|---|---|"
		for s in fd0 fdN; do
			printf '| failDelay %s | %s | %.1f | %s | %.1f | %s |\n' \
				"$([[ $s == fd0 ]] && echo 0 || echo "$FDSECS")" \
				"$(field rps "${FD[$s.alone]}")" \
				"$(awk -v u="$(field p99_us "${FD[$s.alone]}")" 'BEGIN { print u / 1000 }')" \
				"$(field rps "${FD[$s.attacked]}")" \
				"$(awk -v u="$(field p99_us "${FD[$s.attacked]}")" 'BEGIN { print u / 1000 }')" \
				"$(field rps "${FD[$s.bad]}")"
		done
		echo
		for s in fd0 fdN; do
			echo "- $s alone: ${FD[$s.alone]}"
			echo "- $s attacked: ${FD[$s.attacked]}"
			echo "- $s bad: ${FD[$s.bad]}"
		done
	fi
} | tee "$REPORT"
echo "auth: report in $REPORT" >&2
