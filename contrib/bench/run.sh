#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# contrib/bench/run.sh - dray side by side with Distribution (Debian's
# docker-registry 2.8) and, for raw blob downloads, nginx serving the same
# files. Everything on 127.0.0.1; see README.md for the figures.
#
# Environment (defaults in brackets):
#   DRAY_BIN            server under test [build/dray]; missing = peer-only run
#   BENCH_RUNS          runs per load figure, median reported [5]
#   BENCH_DURATION      seconds per load run (integer) [2]
#   BENCH_WARMUP        warm-up seconds per figure and server [1]
#   BENCH_CONNS         connections for small requests [32]
#   BENCH_BLOB_CONNS    connections for 4 KiB,1 MiB,64 MiB blobs [32,8,4]
#   BENCH_BLOB_CLIENT   headload or wrk [headload]
#   BENCH_SMALL_CLIENT  client for small GETs, wrk or headload [wrk]
#   BENCH_PUSH_MIB      MiB per push figure [256]
#   BENCH_PUSH_RUNS     repetitions per push figure [3]
#   BENCH_CHUNK_MIB     PATCH size of the chunked push [8]
#   BENCH_LAYERS        layers of the skopeo image [4]
#   BENCH_SECTIONS      any of small,blob,push [small,blob,push]
#   BENCH_BIG           1 = also push a BENCH_BIG_GIB blob, watch RSS [0]
#   BENCH_BIG_GIB       size of that blob in GiB [4]
#   BENCH_STRACE        1 = strace -c each registry under manifest GETs [1]
#   BENCH_RESULTS       directory for the markdown report [contrib/bench/results]
#   BENCH_KEEP          1 = keep the work directory [0]
#   BENCH_BUILD         1 = build a Release dray in build-bench/ and use it [0]
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/nginx-conf.sh"
. "$HERE/lib.sh" # thread_ticks, cpu_delta
TOP=$(cd "$HERE/../.." && pwd)
DRAY_BIN=${DRAY_BIN:-$TOP/build/dray}
MKIMAGE=${MKIMAGE:-$(dirname "$DRAY_BIN")/mkimage}
RUNS=${BENCH_RUNS:-5}
DUR=${BENCH_DURATION:-2}
WARM=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNS:-32}
BLOB_CONNS=${BENCH_BLOB_CONNS:-32,8,4}
BLOB_CLIENT=${BENCH_BLOB_CLIENT:-headload}
SMALL_CLIENT=${BENCH_SMALL_CLIENT:-wrk}
PUSH_MIB=${BENCH_PUSH_MIB:-256}
PUSH_RUNS=${BENCH_PUSH_RUNS:-3}
CHUNK_MIB=${BENCH_CHUNK_MIB:-8}
LAYERS=${BENCH_LAYERS:-4}
SECTIONS=${BENCH_SECTIONS:-small,blob,push}
BIG=${BENCH_BIG:-0}
BIG_GIB=${BENCH_BIG_GIB:-4}
STRACE=${BENCH_STRACE:-1}
RESULTS=${BENCH_RESULTS:-$HERE/results}
KEEP=${BENCH_KEEP:-0}
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
REPO=bench/small
BREPO=bench/files
NTAGS=20

die() {
	echo "bench: $*" >&2
	exit 1
}
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
int_in() { [[ $2 =~ ^[0-9]+$ ]] && (($2 >= $3 && $2 <= $4)) || die "$1=$2: want $3..$4"; }
int_in BENCH_RUNS "$RUNS" 1 20
int_in BENCH_DURATION "$DUR" 1 60
int_in BENCH_WARMUP "$WARM" 0 30
int_in BENCH_CONNS "$CONNS" 1 1000
int_in BENCH_PUSH_MIB "$PUSH_MIB" 1 4096
int_in BENCH_PUSH_RUNS "$PUSH_RUNS" 1 20
int_in BENCH_CHUNK_MIB "$CHUNK_MIB" 1 1024
int_in BENCH_LAYERS "$LAYERS" 1 64
int_in BENCH_BIG_GIB "$BIG_GIB" 1 64
[[ $BLOB_CONNS =~ ^[0-9]+,[0-9]+,[0-9]+$ ]] || die "BENCH_BLOB_CONNS: want N,N,N"
[[ $BLOB_CLIENT == headload || $BLOB_CLIENT == wrk ]] || die "BENCH_BLOB_CLIENT: headload or wrk"
[[ $SMALL_CLIENT == headload || $SMALL_CLIENT == wrk ]] || die "BENCH_SMALL_CLIENT: headload or wrk"
section() { [[ ,$SECTIONS, == *,$1,* ]]; }
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- tools ----------------------------------------------------------------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need wrk wrk
need curl curl
need skopeo skopeo
need nginx nginx-light
need docker-registry docker-registry
need openssl openssl
need cc gcc
need ss iproute2
need /usr/bin/time time
((STRACE == 0)) || need strace strace
if ((${#missing[@]})); then
	[[ $(id -u) == 0 ]] && command -v apt-get >/dev/null ||
		die "missing packages: ${missing[*]} (apt-get install them)"
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- work directory and cleanup -------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-bench.XXXXXX")
declare -A SPID SURL CAP_SINGLE
ALLPIDS=() # servers
HELPERS=() # background tools (strace)
SAMPLER=""
cleanup() {
	local rc=$? pid i
	set +e # a failing kill must not end the cleanup
	trap - EXIT INT TERM
	[[ -n $SAMPLER ]] && kill "$SAMPLER" 2>/dev/null
	for pid in "${HELPERS[@]}" "${ALLPIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${ALLPIDS[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ $KEEP == 1 ]]; then
		echo "bench: work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RAW=$WORK/raw.tsv
PAIRS=$WORK/pairs.tsv
NOTES=$WORK/notes.txt
: >"$RAW"
: >"$PAIRS"
: >"$NOTES"
note() { echo "$*" >>"$NOTES"; }

HL=$WORK/headload
cc -O2 -o "$HL" "$HERE/headload.c" || die "cannot build headload.c"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$WORK/policy.json"

# --- helpers --------------------------------------------------------------
free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 40000))
		ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	die "no free port"
}

# Pseudo-random bytes: prng SEED SIZE > file (AES-CTR keystream, fast).
prng() {
	local key
	key=$(printf '%016x%016x' "$1" 0)
	{ openssl enc -aes-128-ctr -nosalt -K "$key" -iv 0 -in /dev/zero \
		2>/dev/null || true; } | head -c "$2"
}
sha() { echo "sha256:$(openssl dgst -sha256 -r "$1" | cut -d' ' -f1)"; }

name() { [[ $1 == dist ]] && echo distribution || echo "$1"; }
alive() { kill -0 "${SPID[$1]}" 2>/dev/null; }

# The processes of a server: nginx is a master with workers.
server_pids() {
	local p=${SPID[$1]}
	echo "$p"
	[[ $1 != nginx ]] || pgrep -P "$p" || true
}

TCK=$(getconf CLK_TCK)
ticks_s() { awk -v t="$1" -v h="$TCK" 'BEGIN { printf "%.2f", t / h }'; }

# Sum of a /proc/PID/status field (kB) over the given processes.
status_kb() {
	local field=$1 s=0 p k v _
	shift
	for p; do
		while read -r k v _; do
			[[ $k == "$field:" ]] && { s=$((s + v)); break; }
		done <"/proc/$p/status" 2>/dev/null || true
	done
	echo "$s"
}

# Reset VmHWM (peak RSS) so that it measures one phase.
HWM_RESET=1
reset_hwm() {
	local s p
	for s; do
		alive "$s" || continue
		for p in $(server_pids "$s"); do
			echo 5 2>/dev/null >"/proc/$p/clear_refs" || HWM_RESET=0
		done
	done
}

# Sample VmRSS every 50 ms (at most 20 minutes) until sampler_stop.
sampler_start() {
	rm -f "$WORK/sampler.stop"
	echo 0 >"$WORK/sampler.max"
	(
		max=0
		for ((n = 0; n < 24000; n++)); do
			[[ -e $WORK/sampler.stop ]] && break
			s=$(status_kb VmRSS "$@")
			((s > max)) && max=$s
			sleep 0.05
		done
		echo "$max" >"$WORK/sampler.max"
	) &
	SAMPLER=$!
}
# Sets RSS_MAX (kB). Not in $(...): wait needs the sampler as a child.
sampler_stop() {
	touch "$WORK/sampler.stop"
	wait "$SAMPLER" 2>/dev/null || true
	SAMPLER=""
	RSS_MAX=$(cat "$WORK/sampler.max")
}

# record FIG SIDE RUN VALUE UNIT SRV_CPU_S CLI_CPU_S WORK RSS_KB STATUS [TOP%]
record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${@:1:10}" "${11:--}" >>"$RAW"
}
# pair FIG PEER DIR: a row of the main table; DIR hi|lo (better).
pair() {
	local line
	line=$(printf '%s\t%s\t%s' "$@")
	grep -qxF "$line" "$PAIRS" || echo "$line" >>"$PAIRS"
}

wait_http() {
	local url=$1 side=$2 i code
	for ((i = 0; i < 150; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
		[[ $code == 200 ]] && return 0
		alive "$side" || die "$side exited; see $WORK/$side/log"
		sleep 0.1
	done
	die "$side not answering at $url"
}

# --- servers --------------------------------------------------------------
start_dray() {
	local d=$WORK/dray i port=""
	mkdir -p "$d/root"
	cat >"$d/config.yaml" <<EOF
distSpecVersion: 1.1.0
http: {address: 127.0.0.1, port: 0}
storage: {rootDirectory: $d/root}
log: {level: warn}
EOF
	"$DRAY_BIN" serve "$d/config.yaml" --port-file "$d/port" >"$d/log" 2>&1 &
	SPID[dray]=$!
	ALLPIDS+=($!)
	for ((i = 0; i < 150; i++)); do
		[[ -s $d/port ]] && port=$(tr -dc 0-9 <"$d/port")
		[[ -n $port ]] && break
		alive dray || die "dray exited; see $d/log: $(tail -n 5 "$d/log")"
		sleep 0.1
	done
	[[ -n $port ]] || die "dray wrote no port file"
	SURL[dray]=http://127.0.0.1:$port
	wait_http "${SURL[dray]}/v2/" dray
}

start_dist() {
	local d=$WORK/dist port
	mkdir -p "$d/root"
	port=$(free_port)
	cat >"$d/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $d/root}
  cache: {blobdescriptor: inmemory}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: "127.0.0.1:$port", secret: dray-bench-secret}
EOF
	docker-registry serve "$d/config.yml" >"$d/log" 2>&1 &
	SPID[dist]=$!
	ALLPIDS+=($!)
	SURL[dist]=http://127.0.0.1:$port
	wait_http "${SURL[dist]}/v2/" dist
}

start_nginx() {
	local d=$WORK/nginx root=$1 port
	port=$(free_port)
	nginx_conf "$d" "$root" "server { listen 127.0.0.1:$port reuseport; }"
	nginx -c "$d/nginx.conf" -p "$d" >"$d/log" 2>&1 &
	SPID[nginx]=$!
	ALLPIDS+=($!)
	SURL[nginx]=http://127.0.0.1:$port
	echo ok >"$root/.bench-ping"
	wait_http "${SURL[nginx]}/.bench-ping" nginx
}

# --- measuring ------------------------------------------------------------
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $out"; } # field of $out
# measure_load FIG SIDE RUN TOOL METHOD CONNS UNIT URL [HEADER]
# UNIT req/s or MiB/s. Records one run.
measure_load() {
	local fig=$1 side=$2 run=$3 tool=$4 method=$5 conns=$6 unit=$7 url=$8
	local hdr=${9:-} pids dt top out rc=0 val work cli status=ok rss
	local -a H=()
	[[ -n $hdr ]] && H=(-H "$hdr")
	if ! alive "$side"; then
		record "$fig" "$side" "$run" - "$unit" - - - - DEAD
		return
	fi
	pids=$(server_pids "$side")
	sampler_start $pids
	thread_ticks $pids >"$WORK/ticks0"
	if [[ $tool == headload ]]; then
		out=$(timeout $((DUR + 30)) "$HL" -m "$method" -c "$conns" \
			-d "$DUR" "${H[@]}" "$url" 2>&1) || rc=$?
	else
		out=$(/usr/bin/time -f 'time %U %S' -o "$WORK/time" \
			timeout $((DUR + 30)) wrk -t1 -c"$conns" -d"${DUR}s" \
			--timeout 10s "${H[@]}" "$url" 2>&1) || rc=$?
	fi
	thread_ticks $pids >"$WORK/ticks1"
	read -r dt top < <(cpu_delta "$WORK/ticks0" "$WORK/ticks1")
	sampler_stop
	rss=$RSS_MAX
	if [[ $tool == headload ]]; then
		work=$(kv requests)
		[[ $unit == req/s ]] && val=$(kv rps) || val=$(kv mibps)
		[[ $unit == MiB/s ]] && work=$(kv body_bytes)
		cli=$(awk -v u="$(kv cpu_user)" -v s="$(kv cpu_sys)" 'BEGIN { printf "%.2f", u + s }')
		[[ $(kv non2xx) == 0 ]] || status="ERR:non2xx=$(kv non2xx)"
		[[ $(kv errors) == 0 ]] || status="ERR:errors=$(kv errors)"
	else
		work=$(awk '/requests in/ { print $1 }' <<<"$out")
		val=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
		if [[ $unit == MiB/s ]]; then
			# wrk prints 1024-based units: 2.58GB.
			val=$(awk '/^Transfer\/sec:/ {
				v = $2 + 0; u = $2; sub(/^[0-9.]+/, "", u)
				m = u == "GB" ? 1024 : u == "MB" ? 1 : u == "KB" ? 1 / 1024 : 1 / 1048576
				printf "%.1f", v * m }' <<<"$out")
			work=$(awk -v w="$work" -v v="$val" -v d="$DUR" \
				'BEGIN { printf "%.0f", v * d * 1048576 }')
		fi
		cli=$(awk '/^time/ { printf "%.2f", $2 + $3 }' "$WORK/time" 2>/dev/null || echo -)
		grep -q 'Non-2xx' <<<"$out" && status="ERR:$(grep -o 'Non-2xx.*' <<<"$out" | tr ' ' _)"
		grep -q 'Socket errors' <<<"$out" && status="ERR:$(grep -o 'Socket errors.*' <<<"$out" | tr -d ' ')"
	fi
	if ((rc != 0)) || [[ -z $val ]]; then
		status="ERR:rc=$rc"
		echo "bench: $fig on $side: $out" >&2
		val=${val:--}
	fi
	record "$fig" "$side" "$run" "${val:--}" "$unit" "$(ticks_s "$dt")" \
		"${cli:--}" "${work:--}" "$rss" "$status" "$top"
}

warm() { # SIDE METHOD URL [HEADER]
	local -a H=()
	((WARM > 0)) && alive "$1" || return 0
	[[ -n ${4:-} ]] && H=(-H "$4")
	timeout $((WARM + 30)) "$HL" -m "$2" -c 8 -d "$WARM" "${H[@]}" "$3" >/dev/null 2>&1 || true
}

# measure_push FIG SIDE RUN BYTES CHECK_URL CMD...: wall time of CMD.
measure_push() {
	local fig=$1 side=$2 run=$3 bytes=$4 check=$5 pids dt top t0 t1 rc=0
	local status=ok rss cli code
	shift 5
	if ! alive "$side"; then
		record "$fig" "$side" "$run" - s - - - - DEAD
		return
	fi
	pids=$(server_pids "$side")
	sampler_start $pids
	thread_ticks $pids >"$WORK/ticks0"
	t0=$(date +%s%N)
	/usr/bin/time -f 'time %U %S' -o "$WORK/time" timeout 900 "$@" \
		>"$WORK/push.out" 2>&1 || rc=$?
	t1=$(date +%s%N)
	thread_ticks $pids >"$WORK/ticks1"
	read -r dt top < <(cpu_delta "$WORK/ticks0" "$WORK/ticks1")
	sampler_stop
	rss=$RSS_MAX
	cli=$(awk '/^time/ { printf "%.2f", $2 + $3 }' "$WORK/time" 2>/dev/null || echo -)
	code=$(curl -s -o /dev/null -I -w '%{http_code}' --max-time 10 -H "$ACCEPT" "$check" || true)
	if ((rc != 0)); then
		status="ERR:rc=$rc"
		echo "bench: $fig on $side failed: $(tail -n 5 "$WORK/push.out")" >&2
	elif [[ $code != 200 ]]; then
		status="ERR:check=$code"
	fi
	record "$fig" "$side" "$run" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
		s "$(ticks_s "$dt")" "$cli" "$bytes" "$rss" "$status" "$top"
}

# record_mem FIG SIDE KB
record_mem() {
	alive "$2" || { record "$1" "$2" 1 - MiB - - - - DEAD; return; }
	record "$1" "$2" 1 "$(awk -v k="$3" 'BEGIN { printf "%.1f", k / 1024 }')" \
		MiB - - - "$3" ok
}
mem_phase_end() { # FIG SIDE...: VmHWM since reset_hwm
	local fig=$1 s
	shift
	for s; do
		alive "$s" || continue
		record_mem "$fig" "$s" "$(status_kb VmHWM $(server_pids "$s"))"
	done
}

# Sides in alternating order: the first side changes from run to run.
order() { # RUN SIDE...
	local run=$1
	shift
	if ((run % 2)); then echo "$@"; else echo "$@" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }'; fi
}

# --- start ------------------------------------------------------------------
if [[ ${BENCH_BUILD:-0} == 1 ]]; then
	log "building a Release dray in $TOP/build-bench"
	cmake -S "$TOP" -B "$TOP/build-bench" -DCMAKE_BUILD_TYPE=Release >"$WORK/build.log" 2>&1 &&
		cmake --build "$TOP/build-bench" -j"$(nproc)" --target dray mkimage >>"$WORK/build.log" 2>&1 ||
		die "build failed: $(tail -n 20 "$WORK/build.log")"
	DRAY_BIN=$TOP/build-bench/dray
	MKIMAGE=$TOP/build-bench/mkimage
fi
HAVE_DRAY=0
DRAY_VERSION="not available"
if [[ -x $DRAY_BIN ]] && DRAY_VERSION=$(timeout 10 "$DRAY_BIN" --version 2>&1 | head -n 1); then
	HAVE_DRAY=1
else
	DRAY_VERSION="not available ($DRAY_BIN)"
	log "dray not available at $DRAY_BIN: peer-only run"
	note "dray was not available ($DRAY_BIN): peer figures only."
fi
if ((HAVE_DRAY)) && ldd "$DRAY_BIN" 2>/dev/null | grep -qE 'lib(asan|tsan|ubsan)'; then
	log "WARNING: $DRAY_BIN is a sanitizer build: its figures mean little (BENCH_BUILD=1 makes a Release one)"
	note "WARNING: $DRAY_BIN is linked with a sanitizer runtime; its figures are not representative."
fi
REG=()
((HAVE_DRAY)) && REG+=(dray)
REG+=(dist)

if awk -v l="${LOAD_START%% *}" 'BEGIN { exit !(l > 0.5) }'; then
	log "load average $LOAD_START: other work is running, figures will be noisy"
	note "load average $LOAD_START at the start: other work was running."
fi
log "starting servers in $WORK"
((HAVE_DRAY)) && start_dray
start_dist
sleep 1
for s in "${REG[@]}"; do
	record_mem "RSS idle after start" "$s" "$(status_kb VmRSS ${SPID[$s]})"
done
pair "RSS idle after start" dist lo

# --- seed -------------------------------------------------------------------
log "seeding"
mkdir -p "$WORK/seed"
declare -A BLOB_FILE BLOB_DIGEST
SIZES=(4096 1048576 67108864)
SIZE_NAMES=("4 KiB" "1 MiB" "64 MiB")
SIZE_UNITS=(req/s MiB/s MiB/s)
IFS=, read -ra BCONNS <<<"$BLOB_CONNS"
for i in "${!SIZES[@]}"; do
	f=$WORK/seed/blob$i
	prng $((100 + i)) "${SIZES[$i]}" >"$f"
	BLOB_FILE[$i]=$f
	BLOB_DIGEST[$i]=$(sha "$f")
done
prng 200 1024 >"$WORK/seed/layer"
LD=$(sha "$WORK/seed/layer")
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' "$LD" >"$WORK/seed/config"
CD=$(sha "$WORK/seed/config")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":1024}]}' \
	"$CD" "$(stat -c %s "$WORK/seed/config")" "$LD" >"$WORK/seed/manifest"
PUSH=(bash "$HERE/push.sh")
for s in "${REG[@]}"; do
	u=${SURL[$s]}
	for i in "${!SIZES[@]}"; do
		"${PUSH[@]}" mono "$u" "$BREPO" "${BLOB_FILE[$i]}" "${BLOB_DIGEST[$i]}" ||
			die "seeding blobs into $s failed"
	done
	"${PUSH[@]}" mono "$u" "$REPO" "$WORK/seed/layer" "$LD" || die "seeding $s failed"
	"${PUSH[@]}" mono "$u" "$REPO" "$WORK/seed/config" "$CD" || die "seeding $s failed"
	for t in latest $(seq -f 't%02g' 1 $NTAGS); do
		"${PUSH[@]}" manifest "$u" "$REPO" "$WORK/seed/manifest" "$t" ||
			die "seeding manifests into $s failed"
	done
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" "$u/v2/$REPO/manifests/latest")
	[[ $code == 200 ]] || die "$s: GET manifest after seeding gave $code"
	# Does the server take a monolithic POST ?digest= with a body?
	prng 300 4096 >"$WORK/seed/probe"
	rc=0
	"${PUSH[@]}" single "$u" bench/probe "$WORK/seed/probe" "$(sha "$WORK/seed/probe")" \
		2>/dev/null || rc=$?
	CAP_SINGLE[$s]=$((rc == 0))
	((rc == 0 || rc == 3)) || die "$s: single-POST probe failed ($rc)"
	((rc == 0)) || note "$(name "$s") answers POST ?digest= with a body by 202 (opens a session, ignores the body): its single-POST push is n/a."
done

# nginx serves the very files dray stores when it can, else a copy.
NGROOT=$WORK/nginx-root
hex64=${BLOB_DIGEST[2]#sha256:}
if ! section blob; then
	:
elif ((HAVE_DRAY)) && [[ -f $WORK/dray/root/$BREPO/blobs/sha256/$hex64 ]]; then
	NGROOT=$WORK/dray/root
	note "nginx serves dray's own storage root (the same blob files)."
else
	mkdir -p "$NGROOT/$BREPO/blobs/sha256"
	for i in "${!SIZES[@]}"; do
		ln "${BLOB_FILE[$i]}" "$NGROOT/$BREPO/blobs/sha256/${BLOB_DIGEST[$i]#sha256:}"
	done
	((HAVE_DRAY)) && note "dray's blobs were not found at <root>/<repo>/blobs/sha256/<hex>; nginx serves a copy."
fi
section blob && start_nginx "$NGROOT"

# --- 1. small requests ------------------------------------------------------
if section small; then
	log "small requests: ${RUNS}x${DUR}s per figure and server, $CONNS connections"
	# fig|method|tool|path|header
	SMALL=(
		"GET /v2/|GET|$SMALL_CLIENT|/v2/|"
		"GET manifest by tag|GET|$SMALL_CLIENT|/v2/$REPO/manifests/latest|$ACCEPT"
		"HEAD manifest by tag|HEAD|headload|/v2/$REPO/manifests/latest|$ACCEPT"
		"GET tags/list ($((NTAGS + 1)) tags)|GET|$SMALL_CLIENT|/v2/$REPO/tags/list|"
	)
	reset_hwm "${REG[@]}"
	for spec in "${SMALL[@]}"; do
		IFS='|' read -r fig method tool path hdr <<<"$spec"
		for s in "${REG[@]}"; do
			warm "$s" "$method" "${SURL[$s]}$path" "$hdr"
		done
	done
	for ((run = 1; run <= RUNS; run++)); do
		for spec in "${SMALL[@]}"; do
			IFS='|' read -r fig method tool path hdr <<<"$spec"
			for s in $(order "$run" "${REG[@]}"); do
				measure_load "$fig" "$s" "$run" "$tool" "$method" \
					"$CONNS" req/s "${SURL[$s]}$path" "$hdr"
			done
			pair "$fig" dist hi
		done
	done
	mem_phase_end "peak RSS (VmHWM), small requests" "${REG[@]}"
	pair "peak RSS (VmHWM), small requests" dist lo
fi

# strace -c of each registry under manifest GETs (not part of the figures).
if ((STRACE)) && section small; then
	for s in "${REG[@]}"; do
		alive "$s" || continue
		timeout 20 strace -c -f -p "${SPID[$s]}" -o "$WORK/strace.$s" 2>/dev/null &
		sp=$!
		HELPERS+=("$sp")
		sleep 0.5
		out=$(timeout 30 "$HL" -m GET -c "$CONNS" -d 3 -H "$ACCEPT" \
			"${SURL[$s]}/v2/$REPO/manifests/latest" 2>&1 || true)
		kill -INT "$sp" 2>/dev/null || true
		wait "$sp" 2>/dev/null || true
		{
			echo "### $(name "$s"): strace -c -f, GET manifest by tag, 3 s (slowed by strace)"
			echo "headload: $out"
			echo '```'
			head -n 17 "$WORK/strace.$s" 2>/dev/null
			echo '```'
		} >>"$WORK/strace.md"
	done
fi

# --- 2. blob downloads --------------------------------------------------------
if section blob; then
	log "blob GETs: ${RUNS}x${DUR}s per size and server ($BLOB_CLIENT)"
	BSIDES=("${REG[@]}" nginx)
	reset_hwm "${BSIDES[@]}"
	blob_url() { # SIDE INDEX
		local hex=${BLOB_DIGEST[$2]#sha256:}
		if [[ $1 == nginx ]]; then
			echo "${SURL[nginx]}/$BREPO/blobs/sha256/$hex"
		else
			echo "${SURL[$1]}/v2/$BREPO/blobs/sha256:$hex"
		fi
	}
	for i in "${!SIZES[@]}"; do
		for s in "${BSIDES[@]}"; do
			warm "$s" GET "$(blob_url "$s" "$i")"
		done
	done
	for ((run = 1; run <= RUNS; run++)); do
		for i in "${!SIZES[@]}"; do
			fig="GET blob ${SIZE_NAMES[$i]}, ${BCONNS[$i]} conns"
			for s in $(order "$run" "${BSIDES[@]}"); do
				measure_load "$fig" "$s" "$run" "$BLOB_CLIENT" GET \
					"${BCONNS[$i]}" "${SIZE_UNITS[$i]}" "$(blob_url "$s" "$i")"
			done
			pair "$fig" nginx hi
			pair "$fig" dist hi
		done
	done
	mem_phase_end "peak RSS (VmHWM), blob GETs" "${BSIDES[@]}"
	pair "peak RSS (VmHWM), blob GETs" dist lo
	pair "peak RSS (VmHWM), blob GETs" nginx lo
fi

# --- 3. pushes ----------------------------------------------------------------
if section push; then
	log "pushes: ${PUSH_MIB} MiB, ${PUSH_RUNS} runs per flow and server"
	PB=$((PUSH_MIB * 1048576))
	LSIZE=$((PB / LAYERS))
	reset_hwm "${REG[@]}"
	for ((run = 1; run <= PUSH_RUNS; run++)); do
		# single POST ?digest=
		f=$WORK/push.bin
		prng $((1000 + run)) "$PB" >"$f"
		d=$(sha "$f")
		fig="push $PUSH_MIB MiB, single POST ?digest="
		for s in $(order "$run" "${REG[@]}"); do
			if [[ ${CAP_SINGLE[$s]} == 1 ]]; then
				measure_push "$fig" "$s" "$run" "$PB" \
					"${SURL[$s]}/v2/bench/single/blobs/$d" \
					"${PUSH[@]}" single "${SURL[$s]}" bench/single "$f" "$d"
			else
				record "$fig" "$s" "$run" - s - - - - n/a
			fi
		done
		pair "$fig" dist lo
		# POST, PUT with the body
		prng $((2000 + run)) "$PB" >"$f"
		d=$(sha "$f")
		fig="push $PUSH_MIB MiB, POST + PUT"
		for s in $(order "$run" "${REG[@]}"); do
			measure_push "$fig" "$s" "$run" "$PB" \
				"${SURL[$s]}/v2/bench/mono/blobs/$d" \
				"${PUSH[@]}" mono "${SURL[$s]}" bench/mono "$f" "$d"
		done
		pair "$fig" dist lo
		# POST, PATCH chunks, PUT
		prng $((3000 + run)) "$PB" >"$f"
		d=$(sha "$f")
		rm -rf "$WORK/chunks"
		mkdir "$WORK/chunks"
		split -b "${CHUNK_MIB}M" -a 5 -d "$f" "$WORK/chunks/c."
		rm -f "$f"
		fig="push $PUSH_MIB MiB, chunked ${CHUNK_MIB} MiB PATCHes"
		for s in $(order "$run" "${REG[@]}"); do
			measure_push "$fig" "$s" "$run" "$PB" \
				"${SURL[$s]}/v2/bench/chunked/blobs/$d" \
				"${PUSH[@]}" chunked "${SURL[$s]}" bench/chunked "$WORK/chunks" "$d"
		done
		rm -rf "$WORK/chunks"
		pair "$fig" dist lo
		# skopeo copy of an OCI layout
		L=$WORK/layout
		rm -rf "$L"
		made=0
		if [[ -x $MKIMAGE ]] && timeout 300 "$MKIMAGE" "$L" v1 --layers "$LAYERS" \
			--layer-size "$LSIZE" --seed $((4000 + run)) >/dev/null 2>&1 &&
			[[ -f $L/index.json ]]; then
			made=1
		else
			rm -rf "$L"
			bash "$HERE/mklayout.sh" "$L" v1 "$LAYERS" "$LSIZE" $((4000 + run))
		fi
		((run == 1)) && note "skopeo image made by $( ((made)) && echo "$MKIMAGE" || echo mklayout.sh): $LAYERS layers of $LSIZE bytes."
		fig="skopeo copy, $LAYERS x $((PUSH_MIB / LAYERS)) MiB layers"
		for s in $(order "$run" "${REG[@]}"); do
			measure_push "$fig" "$s" "$run" "$PB" \
				"${SURL[$s]}/v2/bench/skopeo$run/manifests/v1" \
				skopeo copy --quiet --policy "$WORK/policy.json" \
				--dest-tls-verify=false --preserve-digests \
				"oci:$L:v1" "docker://${SURL[$s]#http://}/bench/skopeo$run:v1"
		done
		rm -rf "$L"
		pair "$fig" dist lo
	done
	mem_phase_end "peak RSS (VmHWM), pushes" "${REG[@]}"
	pair "peak RSS (VmHWM), pushes" dist lo
fi

# --- 4. a big push, memory bound ------------------------------------------------
if ((BIG)); then
	log "big push: $BIG_GIB GiB, POST + PUT"
	f=$WORK/big.bin
	prng 5000 $((BIG_GIB << 30)) >"$f"
	d=$(sha "$f")
	fig="push $BIG_GIB GiB, POST + PUT"
	for s in "${REG[@]}"; do
		reset_hwm "$s"
		measure_push "$fig" "$s" 1 $((BIG_GIB << 30)) \
			"${SURL[$s]}/v2/bench/big/blobs/$d" \
			"${PUSH[@]}" mono "${SURL[$s]}" bench/big "$f" "$d"
		mem_phase_end "peak RSS (VmHWM), $BIG_GIB GiB push" "$s"
	done
	rm -f "$f"
	pair "$fig" dist lo
	pair "peak RSS (VmHWM), $BIG_GIB GiB push" dist lo
	if ((HAVE_DRAY)); then
		kb=$(awk -F'\t' -v f="peak RSS (VmHWM), $BIG_GIB GiB push" '$1 == f && $2 == "dray" { print $9 }' "$RAW")
		if [[ -n $kb ]] && ((kb < 65536)); then
			note "$BIG_GIB GiB push: dray peak RSS $((kb / 1024)) MiB < 64 MiB: PASS"
		else
			note "$BIG_GIB GiB push: dray peak RSS ${kb:-?} kB: FAIL (limit 64 MiB)"
		fi
	fi
fi

sleep 1
for s in "${REG[@]}"; do
	record_mem "RSS idle at the end" "$s" "$(status_kb VmRSS ${SPID[$s]})"
done
pair "RSS idle at the end" dist lo
((HWM_RESET)) || note "could not reset VmHWM (/proc/PID/clear_refs): peaks are cumulative."
for s in "${REG[@]}"; do
	alive "$s" || note "$s died during the run; see its log."
done

# --- report -----------------------------------------------------------------
T_END=$(date +%s)
# report.awk: MODE main|detail, prints '|'-separated rows.
report() {
	awk -F'\t' -v mode="$1" -v have_dray="$HAVE_DRAY" '
	function med(k, m,   i, j, t, a) {
		for (i = 1; i <= m; i++) a[i] = vals[k, i] + 0
		for (i = 2; i <= m; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		if (m % 2) return a[(m + 1) / 2]
		return (a[m / 2] + a[m / 2 + 1]) / 2
	}
	function medf(arr, k, m,   i, j, t, a, n) {
		n = 0
		for (i = 1; i <= m; i++) if (arr[k, i] != "-") a[++n] = arr[k, i] + 0
		if (!n) return "-"
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function fmt(v, u) {
		if (v == "" || v == "-") return "-"
		if (u == "s") return sprintf("%.2f s", v)
		if (u == "MiB") return sprintf("%.1f MiB", v)
		if (u == "MiB/s") return sprintf("%.0f MiB/s", v)
		return sprintf("%.0f %s", v, u)
	}
	# Server CPU per unit of work: us per request, or s per GiB moved.
	function per(k, u) {
		if (!(ssum[k] > 0 && wsum[k] > 0)) return "-"
		if (u == "req/s") return ssum[k] / wsum[k] * 1e6
		return ssum[k] / (wsum[k] / 1073741824)
	}
	function pfmt(v, u) {
		if (v == "-") return "-"
		return u == "req/s" ? sprintf("%.1f us/req", v) : sprintf("%.2f s/GiB", v)
	}
	function mark(f, s, v) {
		return (v != "-" && ((f SUBSEP s) in bad)) ? "*" : ""
	}
	function value(f, s,   k) {
		k = f SUBSEP s
		if (!(k in n) || n[k] == 0) return "-"
		return med(k, n[k])
	}
	FNR == NR { np++; pf[np] = $1; pp[np] = $2; pd[np] = $3; next }
	{
		k = $1 SUBSEP $2
		unit[$1] = $5
		if (!(k in seen)) { seen[k] = 1; order[++no] = k }
		if ($10 != "ok" && index(bad[k] " ", " " $10 " ") == 0) bad[k] = bad[k] " " $10
		if ($4 == "-") next
		n[k]++; vals[k, n[k]] = $4
		srv[k, n[k]] = $6; cli[k, n[k]] = $7; top[k, n[k]] = $11
		if ($6 != "-") ssum[k] += $6
		if ($8 != "-") wsum[k] += $8
		if ($9 != "-" && $9 + 0 > rmax[k]) rmax[k] = $9 + 0
	}
	END {
		if (mode == "main") {
			print "figure|dray|peer|ratio (>1: dray better)"
			for (i = 1; i <= np; i++) {
				f = pf[i]; p = pp[i]; u = unit[f]
				d = have_dray ? value(f, "dray") : "-"
				q = value(f, p)
				r = "-"
				if (d != "-" && q != "-" && d > 0 && q > 0)
					r = sprintf("%.2f", pd[i] == "hi" ? d / q : q / d)
				dn = p == "dist" ? "distribution" : p
				print f " vs " dn "|" fmt(d, u) mark(f, "dray", d) "|" fmt(q, u) mark(f, p, q) "|" r
			}
			# The same load, as server CPU per unit of work.
			for (i = 1; i <= np; i++) {
				f = pf[i]; p = pp[i]; u = unit[f]
				if (u == "MiB") continue
				d = have_dray ? per(f SUBSEP "dray", u) : "-"
				q = per(f SUBSEP p, u)
				r = "-"
				if (d != "-" && q != "-" && d > 0 && q > 0) r = sprintf("%.2f", q / d)
				dn = p == "dist" ? "distribution" : p
				print f ": server CPU vs " dn "|" pfmt(d, u) "|" pfmt(q, u) "|" r
			}
		} else {
			print "figure|server|median|min..max|runs|server CPU s|client CPU s|server CPU per unit|busiest thread|max VmRSS sampled|status"
			for (i = 1; i <= no; i++) {
				k = order[i]; split(k, kk, SUBSEP); f = kk[1]; s = kk[2]; u = unit[f]
				m = (k in n) ? n[k] : 0
				mn = "-"; mx = "-"
				for (j = 1; j <= m; j++) {
					v = vals[k, j] + 0
					if (mn == "-" || v < mn) mn = v
					if (mx == "-" || v > mx) mx = v
				}
				pu = pfmt(per(k, u), u)
				sc = medf(srv, k, m); cc = medf(cli, k, m); tp = medf(top, k, m)
				print f "|" (s == "dist" ? "distribution" : s) "|" (m ? fmt(med(k, m), u) : "-") "|" \
					(m ? sprintf("%g..%g", mn, mx) : "-") "|" m "|" \
					(sc == "-" ? "-" : sprintf("%.2f", sc)) "|" (cc == "-" ? "-" : sprintf("%.2f", cc)) "|" pu "|" (tp == "-" ? "-" : tp "%") "|" \
					(rmax[k] > 0 ? sprintf("%.1f MiB", rmax[k] / 1024) : "-") "|" \
					((k in bad) ? substr(bad[k], 2) : "ok")
			}
		}
	}' "$PAIRS" "$RAW"
}
plain() { # aligned columns
	awk -F'|' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } if (NF > nf) nf = NF }
	END { for (r = 1; r <= NR; r++) { line = ""
		for (i = 1; i <= nf; i++) line = line sprintf(i < nf ? "%-" w[i] "s | " : "%s", c[r, i])
		print line
		if (r == 1) { line = ""; for (i = 1; i <= nf; i++) { s = sprintf("%" w[i] "s", ""); gsub(/ /, "-", s); line = line s (i < nf ? "-+-" : "") } print line } } }'
}
markdown() {
	awk -F'|' '{
		s = "|"; for (i = 1; i <= NF; i++) s = s " " $i " |"; print s
		if (NR == 1) { s = "|"; for (i = 1; i <= NF; i++) s = s " --- |"; print s }
	}'
}

report main >"$WORK/main.txt"
report detail >"$WORK/detail.txt"

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_GIB=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
HOST=$(hostname -s 2>/dev/null || echo host)
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
OUTMD=$RESULTS/$STAMP-$HOST.md
{
	echo "# dray benchmark, $(date '+%Y-%m-%d %H:%M:%S %Z')"
	echo
	echo "- machine: $HOST, $(nproc) CPUs ($CPU_MODEL), $MEM_GIB GiB RAM, Linux $(uname -r)"
	echo "- dray: $DRAY_VERSION"
	echo "- peer: $(docker-registry --version 2>&1 | head -n 1); $(nginx -v 2>&1); $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2); $(skopeo --version)"
	echo "- load: $RUNS runs x ${DUR}s per figure (median), warm-up ${WARM}s, $CONNS connections for small requests (GET: $SMALL_CLIENT, HEAD: headload), blob client $BLOB_CLIENT with $BLOB_CONNS connections"
	echo "- pushes: $PUSH_MIB MiB, median of $PUSH_RUNS, chunks of $CHUNK_MIB MiB, skopeo image of $LAYERS layers; BENCH_BIG=$BIG"
	echo "- run took $((T_END - T_START)) s; client and servers share all CPUs; load average before: $LOAD_START, after: $(cut -d' ' -f1-3 /proc/loadavg) (anything else running skews the figures)"
	echo
	echo "## Results"
	echo
	markdown <"$WORK/main.txt"
	echo
	echo 'ratio: dray/peer for rates, peer/dray for times and memory, so >1 always means dray is better. `*`: some run had errors (see status below).'
	echo
	echo "## Detail per server"
	echo
	markdown <"$WORK/detail.txt"
	echo
	echo "server CPU s and client CPU s are medians per run (user+system, all threads; nginx = master+workers). Per unit: server CPU summed over runs / requests or GiB moved."
	if [[ -s $NOTES ]]; then
		echo
		echo "## Notes"
		echo
		sed 's/^/- /' "$NOTES"
	fi
	if [[ -s $WORK/strace.md ]]; then
		echo
		echo "## Syscalls"
		echo
		cat "$WORK/strace.md"
	fi
	echo
	echo "## Raw runs"
	echo
	echo '```'
	printf 'figure\tserver\trun\tvalue\tunit\tsrv_cpu_s\tcli_cpu_s\twork\trss_max_kb\tstatus\ttop_thread_pct\n'
	cat "$RAW"
	echo '```'
} >"$OUTMD"

echo
plain <"$WORK/main.txt"
echo
plain <"$WORK/detail.txt"
if [[ -s $NOTES ]]; then
	echo
	sed 's/^/note: /' "$NOTES"
fi
echo
echo "run took $((T_END - T_START)) s; report: $OUTMD"
