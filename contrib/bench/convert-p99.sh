#!/usr/bin/env bash
# convert-p99.sh - manifest GET latency on a repository while the dedupe
# conversion works through its 1 GiB of blobs, against the same
# repository idle (issue 8 item 7: at most 2x idle at p99).
#
# A layout of SIZE_MIB (default 1024) MiB in LAYERS layers is dropped under
# the storage root by hand, its pages flushed and dropped from the page
# cache (fadvise, these files only), and dray started with dedupe on: 2 s
# later the conversion hashes every blob from disk and links it into the
# content store. headload sends GET manifest-by-tag on that repository
# over CONNS keep-alive connections, each meant to send one request every
# EXPECT_US microseconds (headload -i): a response slower than that also
# counts the requests it held back, and requests unanswered at the end
# count with their age, so a stall behind a lock shows in p99 (a plain
# closed-loop client would record one slow sample per connection):
#   during: from the moment the first blob entered the content store, for
#           FRACTION of the conversion time measured by a first, unmeasured
#           calibration run of DRAY_BIN (the table says whether the
#           conversion was still running when the load ended);
#   idle:   the same number of seconds once the conversion has ended, in
#           the same process.
# RUNS rounds, each on a fresh copy; medians of p50/p99/max, and the ratio
# during/idle of the p99 medians. OLD_BIN (optional) is a second dray
# measured the same way in the same rounds (e.g. one built before the
# conversion left the lock), interleaved with DRAY_BIN.
#
#   contrib/bench/convert-p99.sh                   # builds build-bench/ (Release)
#   DRAY_BIN=build-bench/dray contrib/bench/convert-p99.sh
#   OLD_BIN=/path/to/old/dray RUNS=3 contrib/bench/convert-p99.sh
#
# The results go to stdout and to results/convert-p99-<date>-<host>.md.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
SIZE_MIB=${SIZE_MIB:-1024}
LAYERS=${LAYERS:-16}
CONNS=${CONNS:-8}
RUNS=${RUNS:-3}
FRACTION=${FRACTION:-0.7}
EXPECT_US=${EXPECT_US:-1000}
OLD_BIN=${OLD_BIN:-}
if [ -z "${DRAY_BIN:-}" ]; then
	echo "building a Release dray in $src/build-bench" >&2
	cmake -S "$src" -B "$src/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$src/build-bench" -j"$(nproc)" --target dray mkimage >/dev/null
	DRAY_BIN=$src/build-bench/dray
fi
MKIMAGE=${MKIMAGE:-$(dirname "$DRAY_BIN")/mkimage}
for b in "$DRAY_BIN" ${OLD_BIN:+"$OLD_BIN"}; do
	if ldd "$b" 2>/dev/null | grep -q 'libasan\|libubsan\|libtsan'; then
		echo "WARNING: $b is a sanitizer build: its figures mean little" >&2
	fi
done

work=$(mktemp -d /tmp/dray-convp99.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -o "$work/headload" "$here/headload.c"
"$MKIMAGE" "$work/img" v1 --layers "$LAYERS" \
	--layer-size $((SIZE_MIB * 1024 * 1024 / LAYERS)) --seed 7 >/dev/null
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'

# fresh: the layout copied under an empty root, flushed, out of the cache.
fresh() {
	rm -rf "$work/data"
	mkdir -p "$work/data/bench"
	cp -r "$work/img" "$work/data/bench/app"
	sync "$work/data/bench/app"/blobs/sha256/*
	for f in "$work/data/bench/app"/blobs/sha256/*; do
		dd if="$f" iflag=nocache count=0 status=none
	done
}

# start BIN: dray on $work/data with dedupe on; sets pid and url.
start() {
	cat >"$work/cfg.yaml" <<YAML
distSpecVersion: 1.1.0
http: {address: 127.0.0.1, port: 0}
storage: {rootDirectory: $work/data, dedupe: true, gc: false}
log: {level: info, output: $work/dray.log}
YAML
	: >"$work/dray.log"
	rm -f "$work/port"
	"$1" serve "$work/cfg.yaml" --port-file "$work/port" 2>>"$work/stderr" &
	pid=$!
	for ((k = 0; k < 1200; k++)); do
		[ -s "$work/port" ] && break
		sleep 0.05
	done
	url="http://127.0.0.1:$(cat "$work/port")"
}

stop() {
	kill "$pid"
	wait "$pid" || true
	pid=
}

# Has every blob of the repository been linked into the content store?
# (Read from the files: older builds log no count when every blob of a
# repository entered the store itself.)
converted() {
	! stat -c %h "$work/data/bench/app"/blobs/sha256/* | grep -qv '^2$'
}

# Wait (up to 10 min) for the first blob in the content store.
wait_started() {
	for ((k = 0; k < 60000; k++)); do
		[ -n "$(ls -A "$work/data/.dray/blobs/sha256" 2>/dev/null)" ] && return 0
		sleep 0.01
	done
	echo "the conversion did not start" >&2
	exit 1
}

wait_converted() {
	for ((k = 0; k < 60000; k++)); do
		converted && return 0
		sleep 0.01
	done
	echo "the conversion did not end" >&2
	exit 1
}

now_ms() {
	date +%s%3N
}

load() { # SECONDS: headload's line
	"$work/headload" -m GET -c "$CONNS" -d "$1" -i "$EXPECT_US" -H "$ACCEPT" \
		"$url/v2/bench/app/manifests/v1"
}

field() { # LINE KEY
	grep -o "$2=[0-9.]*" <<<"$1" | cut -d= -f2
}

# Calibration: how long the conversion takes from its first stored blob.
fresh
start "$DRAY_BIN"
wait_started
t0=$(now_ms)
wait_converted
CONV_MS=$(($(now_ms) - t0))
stop
SECS=$(awk -v ms="$CONV_MS" -v f="$FRACTION" 'BEGIN { s = int(ms * f / 1000); print (s < 1 ? 1 : s) }')
echo "conversion of $SIZE_MIB MiB: $CONV_MS ms from the first stored blob; load windows of $SECS s"
[ "$SECS" -ge 2 ] || echo "WARNING: the conversion is short; raise SIZE_MIB for a longer window" >&2

# one LABEL BIN: a round; appends "label p50_during p99_during p50_idle
# p99_idle rps_during rps_idle ended max_during max_idle" to $work/rows
# (ended: the conversion ended inside the 'during' window).
one() {
	local d i ended=no
	fresh
	start "$2"
	wait_started
	d=$(load "$SECS")
	converted && ended=yes
	wait_converted
	i=$(load "$SECS")
	stop
	echo "$1 $(field "$d" p50_us) $(field "$d" p99_us) $(field "$i" p50_us)" \
		"$(field "$i" p99_us) $(field "$d" rps) $(field "$i" rps) $ended" \
		"$(field "$d" max_us) $(field "$i" max_us)" >>"$work/rows"
	printf '%-5s during: %s\n%-5s idle:   %s\n' "$1" "$d" "$1" "$i"
}

: >"$work/rows"
for ((r = 0; r < RUNS; r++)); do
	if [ -n "$OLD_BIN" ] && ((r % 2)); then
		one old "$OLD_BIN"
		one new "$DRAY_BIN"
	else
		one new "$DRAY_BIN"
		[ -z "$OLD_BIN" ] || one old "$OLD_BIN"
	fi
done

median() { # COLUMN LABEL: median of that column over LABEL's rounds
	awk -v c="$1" -v l="$2" '$1 == l { print $c }' "$work/rows" |
		sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "n/a" }'
}

host=$(hostname -s 2>/dev/null || echo host)
out=$here/results/convert-p99-$(date -u +%Y%m%d-%H%M)-$host.md
{
	echo "# Manifest GET latency during the dedupe conversion"
	echo
	echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- new: $DRAY_BIN ($("$DRAY_BIN" --version 2>/dev/null | head -n 1 || echo '?'))"
	[ -z "$OLD_BIN" ] || echo "- old: $OLD_BIN"
	echo "- repository: $LAYERS layers, $SIZE_MIB MiB of blobs, dropped in by hand, out of the page cache"
	echo "- conversion (calibration run of new): $CONV_MS ms; load windows $SECS s, headload GET manifest by tag, $CONNS connections, expected interval $EXPECT_US us per connection (coordinated omission corrected)"
	echo "- $RUNS rounds; medians over the rounds. 'ended' counts the rounds whose conversion ended inside the 'during' window (then that window holds the whole conversion and some idle time after it)"
	echo
	echo "| dray | p50 idle, us | p99 idle, us | max idle, us | p50 during, us | p99 during, us | max during, us | p99 during/idle | req/s idle | req/s during | ended |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for l in new ${OLD_BIN:+old}; do
		p99i=$(median 5 "$l")
		p99d=$(median 3 "$l")
		ratio=$(awk -v a="$p99d" -v b="$p99i" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
		echo "| $l | $(median 4 "$l") | $p99i | $(median 10 "$l") | $(median 2 "$l") | $p99d | $(median 9 "$l") | $ratio | $(median 7 "$l") | $(median 6 "$l") |" \
			"$(awk -v l="$l" '$1 == l && $8 == "yes"' "$work/rows" | wc -l)/$(awk -v l="$l" '$1 == l' "$work/rows" | wc -l) |"
	done
	echo
	echo "Raw rounds (label p50_during p99_during p50_idle p99_idle rps_during rps_idle ended max_during max_idle):"
	echo
	sed 's/^/    /' "$work/rows"
} | tee "$out"
echo "written: $out" >&2
