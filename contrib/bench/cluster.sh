#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# contrib/bench/cluster.sh - what decides how dray scales past one machine
# (issue 14), on loopback, as root (GlusterFS runs by hand):
#
#  1. one node on a replicated GlusterFS volume (the volume and mount
#     options of docs/cluster.md) against one node on the local disk:
#     HEAD manifest, GET tags list, GET blob of 1 MiB and of 64 MiB, push
#     of a small image; medians per request, and their ratio;
#  2. a node of a three-node cluster against a lone node on the same
#     volume: CPU time per request (utime+stime of /proc/PID/stat, every
#     node summed) and system calls per request (strace -f -y on every
#     node; file-system calls counted apart, and broken down by flow, path
#     and syscall, background threads apart, then a minute with no
#     request) for one request mix, sent to the lone node directly and to
#     the cluster through nginx round robin (contrib/cluster/nginx.conf);
#     the issue wants at most 1.3x;
#  3. the same flows through three Distribution replicas (docker-registry,
#     filesystem driver on the same volume, one http.secret) behind the
#     same nginx, side by side with dray's three nodes.
#
# Counts are bounded (N_SMALL small requests, N_BLOB 1 MiB GETs, N_BIG
# 64 MiB GETs, N_PUSH pushes per run, RUNS runs interleaved); everything
# stays on 127.0.0.1. It reuses the integration cases' helpers
# (tests/integration/lib.sh: gluster_up, nginx_up, ...), which keep their
# files in a work dir that is removed at the end (kept on a failure).
#
#   sudo contrib/bench/cluster.sh [OUT.md]
#
# Environment: DRAY_BIN (default build-rel/dray: a Release build); PARTS
# (default "1 2 3": which parts run; part 2 always runs), IDLE_S (60: the
# seconds of part 2's trace with no request), N_SMALL, N_BLOB, N_BIG,
# N_PUSH, RUNS, TRACE_DIR (where part 2's strace logs are copied).
set -Eeuo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
: "${DRAY_BIN:=$SRC/build-rel/dray}"
export DRAY_BIN DRAY_SRC=$SRC
OUT=${1:-$SRC/contrib/bench/results/cluster-$(date -u +%Y%m%d-%H%M)-vm.md}
: "${N_SMALL:=200}" "${N_BLOB:=20}" "${N_BIG:=3}" "${N_PUSH:=10}" "${RUNS:=3}"
: "${PARTS:=1 2 3}"
[[ -x $DRAY_BIN ]] || {
	echo "no Release build at $DRAY_BIN (cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel)" >&2
	exit 2
}
command -v strace >/dev/null || { echo "strace is missing" >&2; exit 2; }
command -v docker-registry >/dev/null || { echo "docker-registry is missing" >&2; exit 2; }

# The integration harness: gluster_up, node_use, nginx_up, ... Its work
# dir is $WORK; its EXIT handler stops every node and takes the volume
# down.
# contrib/bench/lib.sh first, for median, ratio, interleave and
# start_dist (its PORT table would shadow the harness's PORT).
. "$SRC/contrib/bench/lib.sh"
unset PORT
. "$SRC/tests/integration/lib.sh"
# die (contrib/bench/lib.sh's helpers call it): the servers those helpers
# started (PIDS) go too; the harness's EXIT handler does the rest.
die() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	fail "$*"
}
B=$WORK/bench
mkdir -p "$B"
PUSH=$SRC/contrib/bench/push.sh

# bench_node I ROOT: dray node I (log level warn: no per-request log
# line) serving ROOT with index directory $WORK/node$I, on a fresh port.
bench_node() {
	local i=$1
	node_use "$i"
	mkdir -p "$2" "$WORK/node$i"
	printf 'http:\n  address: 127.0.0.1\n  port: 0\nstorage:\n  rootDirectory: %s\n  indexDirectory: %s\nlog:\n  level: warn\n  output: %s\n' \
		"$2" "$WORK/node$i" "$DAEMON_LOG" >"$CFG"
	dray_start
	NODE_PID[i]=$DRAY_PID
	NODE_URL[i]=$URL
	NODE_PORT[i]=$PORT
}

# dist_node I: Distribution replica I (contrib/bench/lib.sh's start_dist:
# the same http.secret for all) on mount I's dist/.
dist_node() {
	local i=$1
	# start_dist notes its port in PORT[NAME]: a table of its own here,
	# not the harness's PORT.
	local -A PORT=()
	mkdir -p "$WORK/dist$i" "${GL_MNT[i]}/dist"
	ln -sfn "${GL_MNT[i]}/dist" "$WORK/dist$i/root"
	retry start_dist "dist$i"
	NODE_PID[i]=${SPID[dist$i]}
	NODE_PORT[i]=${PORT[dist$i]}
}

# --- content: repository b/app with v1 (layers of 1 MiB and 64 MiB) and
# tags t1..t50; seed BASE pushes it (single POST where the server takes
# it, POST+PUT where not).
head -c 1048576 /dev/urandom >"$B/l1"
head -c 67108864 /dev/urandom >"$B/l64"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$B/config"
L1=$(digest_of "$B/l1")
L64=$(digest_of "$B/l64")
mkmanifest "$B/manifest" "$(desc "$MT_OCI_CONFIG" "$B/config")" \
	"$(desc "$MT_OCI_LAYER" "$B/l1")" "$(desc "$MT_OCI_LAYER" "$B/l64")"
M=$(digest_of "$B/manifest")

blob_push() { # blob_push BASE REPO FILE DIGEST
	local rc=0
	"$PUSH" single "$@" 2>/dev/null || rc=$?
	[[ $rc != 3 ]] || { "$PUSH" mono "$@"; return; }
	[[ $rc == 0 ]] || "$PUSH" single "$@"
}

seed() {
	local t
	for f in l1 l64 config; do
		blob_push "$1" b/app "$B/$f" "$(digest_of "$B/$f")"
	done
	for t in v1 $(seq -f 't%g' 1 50); do
		"$PUSH" manifest "$1" b/app "$B/manifest" "$t"
	done
}

# Small images for the pushes, every one pushed once: flows run 4 * RUNS
# times, the mix 3 * (RUNS + 1) times.
mkdir -p "$B/imgs"
for ((k = 0; k < N_PUSH * (7 * RUNS + 3); k++)); do
	d=$B/imgs/$k
	mkdir -p "$d"
	head -c 8192 /dev/urandom >"$d/layer"
	printf '{"architecture":"amd64","os":"linux","config":{"Labels":{"k":"%s-%s"}},"rootfs":{"type":"layers","diff_ids":[]}}' \
		"$k" "$RANDOM" >"$d/config"
	mkmanifest "$d/manifest" "$(desc "$MT_OCI_CONFIG" "$d/config")" \
		"$(desc "$MT_OCI_LAYER" "$d/layer")"
done
NEXT_IMG=0

# lat_each BASE METHOD TARGET N: N requests on one connection; the median
# time per request in ms.
lat_each() {
	local i
	for ((i = 0; i < $4; i++)); do
		printf 'url = "%s%s"\noutput = "/dev/null"\n' "$1" "$3"
	done >"$B/urls"
	local m=(-X "$2")
	[[ $2 != HEAD ]] || m=(-I)
	curl -s "${m[@]}" -H "Accept: $MT_OCI_MANIFEST" -K "$B/urls" \
		-w '%{http_code} %{time_total}\n' >"$B/lat"
	awk '$1 !~ /^2/ { bad++ } END { if (bad) { print bad " answers not 2xx" > "/dev/stderr"; exit 1 } }' "$B/lat"
	median "$(awk '{ printf "%s ", $2 * 1000 }' "$B/lat")"
}

# push_n BASE N REPO: N small images pushed (blobs and manifest), one after
# the other; the median time per image in ms in PUSH_MS (not printed: a
# subshell would lose NEXT_IMG).
push_n() {
	local i t0 ts=() d
	for ((i = 0; i < $2; i++)); do
		d=$B/imgs/$NEXT_IMG
		NEXT_IMG=$((NEXT_IMG + 1))
		t0=${EPOCHREALTIME/,/.}
		blob_push "$1" "$3" "$d/layer" "$(digest_of "$d/layer")"
		blob_push "$1" "$3" "$d/config" "$(digest_of "$d/config")"
		"$PUSH" manifest "$1" "$3" "$d/manifest" "p$NEXT_IMG"
		ts+=("$(awk -v a="$t0" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { print (b - a) * 1000 }')")
	done
	PUSH_MS=$(median "${ts[*]}")
}

# flows BASE: one run of every flow; appends "flow value" lines to
# $B/res.<label>.
flows() {
	local base=$1 label=$2
	{
		echo "head $(lat_each "$base" HEAD /v2/b/app/manifests/v1 "$N_SMALL")"
		echo "tags $(lat_each "$base" GET /v2/b/app/tags/list "$N_SMALL")"
		echo "blob1 $(lat_each "$base" GET "/v2/b/app/blobs/$L1" "$N_BLOB")"
		echo "blob64 $(lat_each "$base" GET "/v2/b/app/blobs/$L64" "$N_BIG")"
		push_n "$base" "$N_PUSH" "b/push-$label"
		echo "push $PUSH_MS"
	} >>"$B/res.$label"
}

# res LABEL FLOW: the median over the runs.
res() {
	median "$(awk -v f="$2" '$1 == f { printf "%s ", $2 }' "$B/res.$1")"
}

# proc_ticks PID...: utime+stime of the processes, in clock ticks.
proc_ticks() {
	local p s=0 line f
	for p; do
		read -r line <"/proc/$p/stat"
		read -ra f <<<"${line##*) }"
		s=$((s + f[11] + f[12]))
	done
	echo "$s"
}

# The request mix of part 2: N_SMALL HEADs, N_SMALL/2 tag lists, N_BLOB
# 1 MiB GETs, N_PUSH pushes (3 requests each); the request count in
# MIX_N. With MARKS set, each flow's start and end time (seconds since
# the epoch) go there: "flow t0 t1 requests".
mix() {
	mark_flow head "$N_SMALL" lat_each "$1" HEAD /v2/b/app/manifests/v1 "$N_SMALL"
	mark_flow tags $((N_SMALL / 2)) lat_each "$1" GET /v2/b/app/tags/list $((N_SMALL / 2))
	mark_flow blob1 "$N_BLOB" lat_each "$1" GET "/v2/b/app/blobs/$L1" "$N_BLOB"
	mark_flow push $((3 * N_PUSH)) push_n "$1" "$N_PUSH" "b/mix-$2"
	MIX_N=$((N_SMALL + N_SMALL / 2 + N_BLOB + 3 * N_PUSH))
}
# mark_flow FLOW REQUESTS CMD...: CMD (output dropped), timed into MARKS.
mark_flow() {
	local t0=${EPOCHREALTIME/,/.}
	"${@:3}" >/dev/null
	[[ -z ${MARKS:-} ]] || echo "$1 $t0 ${EPOCHREALTIME/,/.} $2" >>"$MARKS"
}

# cost LABEL BASE PID...: CPU ticks per request over the mix (RUNS runs,
# median), then one more run under strace -f -y (every call logged with
# its time, file descriptors with their paths): system calls and
# file-system calls per request, and the calls by flow, syscall and path
# class (calls_by_class); then IDLE_S seconds with no request under
# strace again: what the nodes' timers cost. Appends "LABEL cpu_ms sys
# fs mix_s" to $B/cost.
FS_CALLS='^(open|openat|openat2|creat|close|stat|lstat|fstat|newfstatat|statx|access|faccessat|faccessat2|rename|renameat|renameat2|link|linkat|unlink|unlinkat|mkdir|mkdirat|rmdir|getdents64|fcntl|flock|fsync|fdatasync|ftruncate|fallocate|utimensat|fchmod|fchown|readlink|readlinkat|getxattr|fgetxattr|lgetxattr|setxattr|fsetxattr|lseek|pread64|pwrite64|read|write|copy_file_range|sendfile|statfs|fstatfs)$'
: "${IDLE_S:=60}"
# strace_run OUT PID...: strace -f -y on the PIDs until strace_stop.
strace_run() {
	local out=$1 p args=()
	shift
	for p; do args+=(-p "$p"); done
	strace -f -qq -ttt -y -s 0 -o "$out" "${args[@]}" 2>/dev/null &
	STRACE_PID=$!
	sleep 1 # strace attaches to every thread (no event to wait for)
}
strace_stop() {
	kill -INT "$STRACE_PID"
	wait "$STRACE_PID" || true
}
# calls_by_class TRACE MARKS THREADS: "flow syscall class count" for
# each call in the strace -f -ttt -y log TRACE (a call split by another
# thread counted once, at its start). The flow is the MARKS line whose
# times hold the call ("-" between flows) for calls of libmicrohttpd's
# threads (named MHD-*, where requests run) and of threads THREADS ("tid
# name" lines) does not know; a call of another thread is "bg:<name>"
# (dray-sched: the periodic tasks, dray-reconcile: the background
# reconcile, bg:other: unnamed threads). The class is the path the call
# names (its first argument: a path, or a descriptor's path), with the
# tree's roots (ROOTS, the mounts) written <root>, the index directories
# <idx>, and a repository's name and a digest elided:
# <root>/.dray/locks, <root>/<repo>/index.json, <root>/<repo>/blobs,
# socket, pipe, ...
calls_by_class() {
	awk -v roots="${ROOTS[*]}" -v work="$WORK" '
	BEGIN { nr = split(roots, R, " ") }
	FILENAME == ARGV[1] { nf++; F[nf] = $1; T0[nf] = $2; T1[nf] = $3; next }
	FILENAME == ARGV[2] { TN[$1] = $2; next }
	/^[0-9]+ +[0-9.]+ +(\+\+\+|---)/ || /resumed>/ { next }
	{
		t = $2
		tid = $1
		sub(/^[0-9]+ +[0-9.]+ +/, "")
		flow = "-"
		if (tid in TN && TN[tid] !~ /^MHD/)
			flow = "bg:" TN[tid]
		else
			for (i = 1; i <= nf; i++)
				if (t >= T0[i] && t <= T1[i]) { flow = F[i]; break }
		name = $0; sub(/\(.*/, "", name)
		args = substr($0, length(name) + 2)
		p = ""
		if (match(args, /^[0-9]+</)) {
			p = substr(args, RLENGTH + 1); sub(/>.*/, "", p)
		} else if (match(args, /^(AT_FDCWD(<[^>]*>)?, )?"/)) {
			p = substr(args, RLENGTH + 1); sub(/".*/, "", p)
		} else if (args ~ /^[0-9]+[,)]/) p = "fd"
		else p = "-"
		c = p
		for (i = 1; i <= nr; i++)
			if (index(c, R[i]) == 1) { c = "<root>" substr(c, length(R[i]) + 1); break }
		if (c ~ /^<root>/) {
			if (c ~ /^<root>\/\.dray\//) {
				split(c, q, "/"); c = "<root>/.dray/" q[3]
			} else if (c ~ /\/blobs(\/|$)/) c = "<root>/<repo>/blobs"
			else if (c ~ /\/index\.json$/) c = "<root>/<repo>/index.json"
			else if (c ~ /\/oci-layout$/) c = "<root>/<repo>/oci-layout"
			else if (c == "<root>" || c == "<root>/") c = "<root>"
			else c = "<root>/<repo>"
		} else if (index(c, work "/node") == 1) c = "<idx>"
		else if (c ~ /^(TCP|TCPv6|UDP|UNIX|socket):/ || c ~ /^UNIX-STREAM/) c = "socket"
		else if (c ~ /^pipe:/) c = "pipe"
		else if (c ~ /^anon_inode:/) { sub(/^anon_inode:\[?/, "", c); sub(/\]$/, "", c); c = "anon:" c }
		else if (c ~ /^\/(proc|sys|dev)\//) { split(c, q, "/"); c = "/" q[2] }
		else if (c ~ /^\//) c = "other path"
		n[flow " " name " " c]++
	}
	END { for (k in n) print k, n[k] }' "$2" "$3" "$1"
}
# threads PID...: "tid name" for every thread of the processes; a
# thread that bears the process's name is "other".
threads() {
	local p t n main
	for p; do
		main=$(cat "/proc/$p/comm")
		for t in /proc/"$p"/task/*; do
			n=$(tr ' ' _ <"$t/comm")
			[[ $n != "$main" ]] || n=other
			echo "${t##*/} $n"
		done
	done
}
cost() {
	local label=$1 base=$2 r t0 t1 cpu=() hz
	shift 2
	hz=$(getconf CLK_TCK)
	for ((r = 0; r < RUNS; r++)); do
		t0=$(proc_ticks "$@")
		mix "$base" "$label"
		t1=$(proc_ticks "$@")
		cpu+=("$(awk -v d=$((t1 - t0)) -v n="$MIX_N" -v hz="$hz" 'BEGIN { printf "%.4f", d * 1000 / hz / n }')")
	done
	strace_run "$B/trace.$label" "$@"
	MARKS=$B/marks.$label
	: >"$MARKS"
	t0=${EPOCHREALTIME/,/.}
	mix "$base" "$label"
	t1=${EPOCHREALTIME/,/.}
	MARKS=
	strace_stop
	threads "$@" >"$B/threads.$label"
	strace_run "$B/idle.$label" "$@"
	sleep "$IDLE_S" # the timers' work over a fixed time
	strace_stop
	echo "idle $t1 $t1 0" >"$B/nomarks"
	threads "$@" >>"$B/threads.$label"
	calls_by_class "$B/trace.$label" "$B/marks.$label" "$B/threads.$label" >"$B/calls.$label"
	calls_by_class "$B/idle.$label" "$B/nomarks" "$B/threads.$label" >"$B/idlecalls.$label"
	awk -v n="$MIX_N" -v re="$FS_CALLS" '
		{ all += $4; if ($2 ~ re) fs += $4 }
		END { printf "%.2f %.2f\n", all / n, fs / n }' "$B/calls.$label" >"$B/sc.$label"
	echo "$label $(median "${cpu[*]}") $(cat "$B/sc.$label") $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" >>"$B/cost"
}

# flow_calls A B: per flow, the requests, the system calls and the
# file-system calls per request of A and of B, and B / A (request
# threads); then what the other threads did during the traced run, in
# calls (not per request).
flow_calls() {
	awk -v re="$FS_CALLS" -v A="$1" -v B="$2" '
		FILENAME ~ "/marks\\." A "$" { req[$1] = $4; order[++no] = $1; next }
		FILENAME ~ "/marks\\." B "$" { next }
		{ l = FILENAME ~ "/calls\\." A "$" ? "a" : "b"
		  all[l, $1] += $4; if ($2 ~ re) fs[l, $1] += $4
		  if (!($1 in req) && !($1 in other)) { other[$1] = 1; oo[++noo] = $1 } }
		END {
			for (i = 1; i <= no; i++) {
				f = order[i]; r = req[f]
				ta += all["a", f]; tb += all["b", f]; fa += fs["a", f]; fb += fs["b", f]; tr += r
				printf "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2fx |\n", f, r, all["a", f] / r, all["b", f] / r, fs["a", f] / r, fs["b", f] / r, fs["a", f] ? fs["b", f] / fs["a", f] : 0
			}
			printf "| **all flows** | %d | %.2f | %.2f | %.2f | %.2f | %.2fx |\n", tr, ta / tr, tb / tr, fa / tr, fb / tr, fb / fa
			for (i = 1; i <= noo; i++) {
				f = oo[i]
				printf "| %s (in all) | - | %d | %d | %d | %d | |\n", f == "-" ? "requests, between flows" : f, all["a", f], all["b", f], fs["a", f], fs["b", f]
			}
		}' "$B/marks.$1" "$B/marks.$2" "$B/calls.$1" "$B/calls.$2"
	# With no request at all: calls per second (every thread).
	awk -v re="$FS_CALLS" -v A="$1" -v s="$IDLE_S" '
		{ l = FILENAME ~ "/idlecalls\\." A "$" ? "a" : "b"
		  all[l] += $4; if ($2 ~ re) fs[l] += $4 }
		END { printf "| no request, per second over %d s | - | %.1f/s | %.1f/s | %.1f/s | %.1f/s | |\n", s, all["a"] / s, all["b"] / s, fs["a"] / s, fs["b"] / s }' \
		"$B/idlecalls.$1" "$B/idlecalls.$2"
}

# breakdown A B: file-system calls of A and B by flow, path class and
# syscall, with B - A: per request for the flows of the mix (rows under
# 0.02 per request on both sides left out), in all for the other threads
# (bg:*) and for the run with no request (idle, IDLE_S s).
breakdown() {
	awk -v re="$FS_CALLS" -v A="$1" -v B="$2" '
		FILENAME ~ "/marks\\." A "$" { req[$1] = $4; fo[$1] = ++no; next }
		$2 !~ re { next }
		{ f = $1; if (FILENAME ~ /idlecalls/) f = "idle"
		  k = f " | " $3 " | " $2; K[k] = f }
		FILENAME ~ "/calls\\." A "$" || FILENAME ~ "/idlecalls\\." A "$" { a[k] += $4 }
		FILENAME ~ "/calls\\." B "$" || FILENAME ~ "/idlecalls\\." B "$" { b[k] += $4 }
		END {
			for (k in K) {
				f = K[k]
				if (f in req) {
					pa = a[k] / req[f]; pb = b[k] / req[f]
					if (pa < 0.02 && pb < 0.02) continue
					printf "%d %.4f | %s | %.2f | %.2f | %+.2f |\n", fo[f], -(pb - pa), k, pa, pb, pb - pa
				} else {
					printf "%d %.4f | %s | %d | %d | %+d |\n", f == "idle" ? no + 2 : no + 1, -(b[k] - a[k]), k, a[k], b[k], b[k] - a[k]
				}
			}
		}' "$B/marks.$1" "$B/calls.$1" "$B/calls.$2" "$B/idlecalls.$1" "$B/idlecalls.$2" |
		sort -k1,1n -k2,2g | cut -d' ' -f3-
}

START=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
gluster_up 3
ROOTS=("${GL_MNT[1]}/tree" "${GL_MNT[2]}/tree" "${GL_MNT[3]}/tree")
part() { [[ " $PARTS " == *" $1 "* ]]; }

# --- 1. one node on the volume against one node on the local disk
bench_node 1 "${GL_MNT[1]}/tree"
bench_node 4 "$WORK/local"
G1=${NODE_URL[1]} LOCAL=${NODE_URL[4]}
seed "$G1"
part 1 && seed "$LOCAL"
one_run_1() {
	case $1 in
	gluster) flows "$G1" gluster ;;
	local) flows "$LOCAL" local ;;
	esac
}
! part 1 || interleave "$RUNS" one_run_1 gluster local

# --- 2. the lone node on the volume, then the same node with two more
# behind nginx
cost lone "$G1" "${NODE_PID[1]}"
node_use 4
dray_stop
NODE_PID[4]=
bench_node 2 "${GL_MNT[2]}/tree"
bench_node 3 "${GL_MNT[3]}/tree"
nginx_up 3
cost cluster "$LB_URL" "${NODE_PID[1]}" "${NODE_PID[2]}" "${NODE_PID[3]}"

# --- 3. dray's three nodes and Distribution's three replicas, through
# the same nginx (the same configuration)
if part 3; then
	for ((r = 0; r < RUNS; r++)); do
		flows "$LB_URL" dray3
	done
	for i in 1 2 3; do
		node_use "$i"
		dray_stop
		NODE_PID[i]=
	done
	# No current dray node any more: the EXIT handler would write the
	# (empty) DRAY_PID over the PID of replica NODE_CUR.
	NODE_CUR=
	nginx_down
	for i in 1 2 3; do dist_node "$i"; done
	nginx_up 3
	seed "$LB_URL"
	for ((r = 0; r < RUNS; r++)); do
		flows "$LB_URL" dist3
	done
	cost dist3 "$LB_URL" "${NODE_PID[1]}" "${NODE_PID[2]}" "${NODE_PID[3]}"
fi

# --- the report
c() { awk -v l="$1" -v k="$2" '$1 == l { print $k }' "$B/cost"; }
# flow_rows A B: a table row per flow: A's and B's medians, B / A.
flow_rows() {
	local f a b
	echo "|---|---|---|---|"
	for f in head tags blob1 blob64 push; do
		a=$(res "$1" "$f") b=$(res "$2" "$f")
		echo "| $f | $a | $b | $(ratio "$b" "$a")x |"
	done
}
{
	echo "# dray past one machine: GlusterFS volume, three nodes, nginx (contrib/bench/cluster.sh)"
	echo
	echo "$START, $(nproc) CPUs, $(uname -r); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "dray: $DRAY_BIN ($("$DRAY_BIN" --version 2>/dev/null | head -n 1)); $(glusterfs --version | head -n 1); $(nginx -v 2>&1); docker-registry $(docker-registry --version 2>/dev/null | awk '{ print $3 }')"
	echo "Volume: replica 2 on two bricks in the work dir, client caches off, mounts with attribute/entry/negative-timeout 0 (docs/cluster.md)."
	echo "Per run: $N_SMALL HEADs and $N_SMALL tag lists (one connection), $N_BLOB GETs of the 1 MiB blob, $N_BIG of the 64 MiB one, $N_PUSH pushes of a small image (8 KiB layer, config, manifest; a monolithic POST per blob where the server takes it, POST+PUT otherwise); $RUNS runs interleaved, medians of medians."
	echo
	if part 1; then
		echo "## 1. one node on the GlusterFS volume against one node on the local disk (ms per request)"
		echo
		echo "| flow | local disk | GlusterFS | GlusterFS / local |"
		flow_rows local gluster
		echo
	fi
	echo "## 2. a node of the three-node cluster against a lone node, same volume (per request)"
	echo
	echo "Mix per run: $N_SMALL HEAD manifest, $((N_SMALL / 2)) GET tags list, $N_BLOB GET 1 MiB blob, $N_PUSH pushes (3 requests each). Lone: straight to the node. Cluster: through nginx, CPU and calls of all three nodes summed. CPU from utime+stime in /proc/PID/stat ($RUNS runs, median); calls from one more run under strace -f -y (file-system calls: opens, stats, reads/writes, renames, links, locks, fsyncs, directory reads, on files and sockets alike)."
	echo
	echo "| | CPU ms | system calls | file-system calls | traced mix, s |"
	echo "|---|---|---|---|---|"
	for l in lone cluster dist3; do
		[[ -s $B/calls.$l ]] || continue
		echo "| $l | $(c "$l" 2) | $(c "$l" 3) | $(c "$l" 4) | $(c "$l" 5) |"
	done
	echo "| cluster / lone | $(ratio "$(c cluster 2)" "$(c lone 2)")x | $(ratio "$(c cluster 3)" "$(c lone 3)")x | $(ratio "$(c cluster 4)" "$(c lone 4)")x | |"
	echo
	! part 3 || echo "(dist3: Distribution's three replicas through nginx, the same mix, for scale.)"
	echo
	echo "### Calls per request by flow (traced run)"
	echo
	echo "Per request on the request threads (libmicrohttpd's); the calls of other threads and of requests between flows in all; last, every thread's calls per second with no request."
	echo
	echo "| flow | requests | lone syscalls | cluster syscalls | lone fs calls | cluster fs calls | cluster / lone (fs) |"
	echo "|---|---|---|---|---|---|---|"
	flow_calls lone cluster
	echo
	echo "### File-system calls by flow, path and syscall"
	echo
	echo "Per request of each flow in the traced run, on the request threads (lone: one node; cluster: three nodes summed; a push is 3 requests); rows under 0.02 per request on both sides left out. Then, in all (not per request), the calls of the other threads in the traced run (bg:dray-sched: the periodic tasks, bg:dray-reconcile: the background reconcile) and of all threads over $IDLE_S s with no request (idle). Paths: <root> is a node's mount of the tree, <idx> its index directory."
	echo
	echo "| flow | path | syscall | lone | cluster | cluster - lone |"
	echo "|---|---|---|---|---|---|"
	breakdown lone cluster
	echo
	if part 3; then
		echo "## 3. through nginx: dray's three nodes and Distribution's three replicas on the same volume (ms per request)"
		echo
		echo "| flow | Distribution x3 | dray x3 | dray / Distribution |"
		flow_rows dist3 dray3
		echo
		echo "Raw (flow, ms per run):"
		echo
		for l in local gluster dray3 dist3; do
			[[ -s $B/res.$l ]] || continue
			echo "- $l: $(awk '{ printf "%s=%s ", $1, $2 }' "$B/res.$l")"
		done
	fi
} >"$OUT"
cat "$OUT"
[[ -z ${TRACE_DIR:-} ]] || cp "$B"/trace.* "$B"/idle.* "$TRACE_DIR"/
for i in 1 2 3; do
	[[ -z ${NODE_PID[i]} ]] || stop_pid "${NODE_PID[i]}"
	NODE_PID[i]=
done
NODE_CUR=
DRAY_PID=
exit 0
