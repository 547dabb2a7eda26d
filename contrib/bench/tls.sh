#!/usr/bin/env bash
# tls.sh - what HTTPS costs on blob downloads: dray over HTTPS against dray
# over HTTP, and nginx serving the same blob file over TLS against plain,
# in one run. Two dray processes (one with http.tls, one without; each
# has its own storage root holding the same image, imported offline) and
# one nginx with a plain and a TLS server on the first root's files. The
# certificate is EC P-256, made here with openssl; both TLS servers
# negotiate TLS 1.3 with TLS_AES_256_GCM_SHA384 (printed). The client is
# wrk (headload speaks no TLS), the same for all four. Runs interleave
# and flip order; the figures are medians, with the server's CPU seconds
# per GiB.
#
#   DRAY_BIN=build-bench/dray MKIMAGE=build-bench/mkimage contrib/bench/tls.sh
#
# Environment: RUNS (5), DUR seconds per run (5), SIZES in MiB ("1 64"),
# CONNS for each size ("8 4"), OUT (a markdown file to append the report to).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/nginx-conf.sh"
src=$(cd "$here/../.." && pwd)
DRAY=${DRAY_BIN:-$src/build-bench/dray}
MKIMAGE=${MKIMAGE:-$src/build-bench/mkimage}
RUNS=${RUNS:-5}
DUR=${DUR:-5}
read -r -a SIZES <<<"${SIZES:-1 64}"
read -r -a CONNS <<<"${CONNS:-8 4}"
for t in wrk nginx openssl curl jq; do
	command -v "$t" >/dev/null || {
		echo "tls.sh: $t is missing (contrib/install-deps.sh --bench)" >&2
		exit 1
	}
done
nm -D "$DRAY" 2>/dev/null | grep -q __asan_init &&
	echo "tls.sh: warning: $DRAY is a sanitizer build" >&2

w=$(mktemp -d /tmp/dray-bench-tls.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$w"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- certificate, content, servers
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$w/key.pem" -out "$w/cert.pem" 2>/dev/null
declare -A blob
for mib in "${SIZES[@]}"; do
	"$MKIMAGE" "$w/img$mib" v1 --layers 1 --layer-size $((mib << 20)) \
		--seed "$mib" >/dev/null
done

start_dray() { # NAME [tls]: sets url[NAME], pid[NAME]
	local d=$w/$1 i
	mkdir -p "$d"
	{
		echo "http:"
		echo "  address: 127.0.0.1"
		echo "  port: 0"
		[ -z "${2:-}" ] || printf '  tls:\n    cert: %s\n    key: %s\n' \
			"$w/cert.pem" "$w/key.pem"
		echo "storage: {rootDirectory: $d/root, gc: false}"
		echo "log: {level: warn, output: $d/log}"
	} >"$d/cfg.yaml"
	for mib in "${SIZES[@]}"; do
		"$DRAY" import "$w/img$mib" "bench/b$mib:v1" --config "$d/cfg.yaml" \
			>/dev/null
	done
	"$DRAY" serve "$d/cfg.yaml" --port-file "$d/port" &
	pid[$1]=$!
	pids+=($!)
	for ((i = 0; i < 300; i++)); do
		[ -s "$d/port" ] && break
		sleep 0.1
	done
	url[$1]=http${2:+s}://127.0.0.1:$(cat "$d/port")
}
declare -A url pid
start_dray dray
start_dray dray-tls tls

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
np=$(free_port)
ns=$(free_port)
nginx_conf "$w/nginx" "$w/dray/root" \
	"server { listen 127.0.0.1:$np reuseport; }" \
	"server { listen 127.0.0.1:$ns ssl reuseport; ssl_certificate $w/cert.pem; ssl_certificate_key $w/key.pem; ssl_protocols TLSv1.2 TLSv1.3; }"
nginx -c "$w/nginx/nginx.conf" -p "$w/nginx" 2>"$w/nginx/log" &
pid[nginx]=$!
pid[nginx-tls]=$!
pids+=($!)
url[nginx]=http://127.0.0.1:$np
url[nginx-tls]=https://127.0.0.1:$ns
SIDES=(dray dray-tls nginx nginx-tls)

blob_path() { # SIDE MIB: the blob's path on that server
	local m hex
	m=$(jq -r '.manifests[0].digest' "$w/img$2/index.json")
	hex=$(jq -r '.layers[0].digest' "$w/img$2/blobs/sha256/${m#sha256:}")
	hex=${hex#sha256:}
	case $1 in
	dray*) echo "/v2/bench/b$2/blobs/sha256:$hex" ;;
	*) echo "/bench/b$2/blobs/sha256/$hex" ;;
	esac
}
for s in "${SIDES[@]}"; do
	for mib in "${SIZES[@]}"; do
		code=$(curl -sk --retry 50 --retry-connrefused --retry-delay 0 \
			-o /dev/null -w '%{http_code}' "${url[$s]}$(blob_path "$s" "$mib")")
		[ "$code" = 200 ] || { echo "tls.sh: $s answers $code" >&2; exit 1; }
	done
done

# CPU seconds (user+system) of a server so far; nginx with its workers.
cpu() {
	local p t=0 f
	for p in $1 $(pgrep -P "$1" || true); do
		read -r -a f <"/proc/$p/stat"
		t=$((t + f[13] + f[14]))
	done
	echo "$t"
}
hz=$(getconf CLK_TCK)
to_mib() { awk -v x="$1" 'BEGIN { s = x; m = 1; if (s ~ /GB$/) m = 1024; else if (s ~ /KB$/) m = 1/1024; sub(/[A-Za-z]+$/, "", s); printf "%.1f", s * m }'; }

declare -A res cpug m
for ((run = 1; run <= RUNS; run++)); do
	order=("${SIDES[@]}")
	((run % 2)) || order=(nginx-tls nginx dray-tls dray)
	for i in "${!SIZES[@]}"; do
		mib=${SIZES[$i]}
		for s in "${order[@]}"; do
			c0=$(cpu "${pid[$s]}")
			out=$(wrk -t1 -c "${CONNS[$i]}" -d "${DUR}s" --timeout 60s \
				"${url[$s]}$(blob_path "$s" "$mib")")
			c1=$(cpu "${pid[$s]}")
			# "Transfer/sec:    512.00MB" -> MiB/s
			mibs=$(to_mib "$(awk '/^Transfer\/sec/ { print $2 }' <<<"$out")")
			gib=$(awk -v r="$mibs" -v d="$DUR" 'BEGIN { print r * d / 1024 }')
			res[$s,$mib]+="$mibs "
			cpug[$s,$mib]+="$(awk -v c=$((c1 - c0)) -v h="$hz" -v g="$gib" \
				'BEGIN { printf "%.2f", (g > 0 ? c / h / g : 0) }') "
			grep -q 'Non-2xx\|Socket errors' <<<"$out" &&
				echo "tls.sh: $s $mib MiB: $(grep 'Non-2xx\|Socket errors' <<<"$out")" >&2
		done
	done
	echo "run $run/$RUNS done" >&2
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
cipher() { openssl s_client -connect "${1#https://}" </dev/null 2>/dev/null | sed -n 's/^New, \(.*\)$/\1/p' | head -1; }
{
	echo "## HTTPS against HTTP, blob GETs ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, RUNS=$RUNS x ${DUR}s, wrk -t1)"
	echo
	echo "dray TLS: $(cipher "${url[dray-tls]}"); nginx TLS: $(cipher "${url[nginx-tls]}")"
	echo
	echo "| blob, conns | dray HTTP | dray HTTPS | HTTPS/HTTP | nginx HTTP | nginx HTTPS | HTTPS/HTTP | dray/nginx HTTPS |"
	echo "|---|---|---|---|---|---|---|---|"
	for i in "${!SIZES[@]}"; do
		mib=${SIZES[$i]}
		for s in "${SIDES[@]}"; do m[$s]=$(median "${res[$s,$mib]}"); done
		r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
		echo "| $mib MiB, ${CONNS[$i]} | ${m[dray]} | ${m[dray-tls]} | $(r "${m[dray-tls]}" "${m[dray]}") | ${m[nginx]} | ${m[nginx-tls]} | $(r "${m[nginx-tls]}" "${m[nginx]}") | $(r "${m[dray-tls]}" "${m[nginx-tls]}") |"
	done
	echo
	echo "MiB/s, medians. Server CPU s per GiB (medians):"
	echo
	for i in "${!SIZES[@]}"; do
		mib=${SIZES[$i]}
		printf -- '- %s MiB:' "$mib"
		for s in "${SIDES[@]}"; do printf ' %s %s;' "$s" "$(median "${cpug[$s,$mib]}")"; done
		echo
	done
	echo
	echo "Raw MiB/s per run:"
	echo
	for i in "${!SIZES[@]}"; do
		for s in "${SIDES[@]}"; do echo "- ${SIZES[$i]} MiB $s: ${res[$s,${SIZES[$i]}]}"; done
	done
} | tee -a "${OUT:-/dev/null}"
