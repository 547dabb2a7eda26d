#!/usr/bin/env bash
# mount-read.sh - sequential read of a large blob through the mount
# against reading the same file from the storage root, cold (page cache
# dropped, when the kernel lets us) and warm. SIZE_MB (default 1024).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
DRAY=${DRAY_BIN:-$src/build/dray}
SIZE_MB=${SIZE_MB:-1024}
work=$(mktemp -d /tmp/dray-mountbench.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/cfg.yaml" <<YAML
distSpecVersion: 1.1.0
http: {address: 127.0.0.1, port: 0}
storage: {rootDirectory: $work/data}
log: {level: warn}
fuse: {mountpoint: $work/mnt}
YAML
"$DRAY" serve "$work/cfg.yaml" --port-file "$work/port" &
pid=$!
for ((k = 0; k < 100; k++)); do [ -s "$work/port" ] && break; sleep 0.1; done
head -c $((SIZE_MB << 20)) /dev/urandom >"$work/blob"
d=$(sha256sum "$work/blob" | cut -d' ' -f1)
curl -sf -X POST -H "Content-Type: application/octet-stream" -T "$work/blob" \
	"http://127.0.0.1:$(cat "$work/port")/v2/bench/blobs/uploads?digest=sha256:$d" >/dev/null
rm -f "$work/blob"
direct=$work/data/bench/blobs/sha256/$d
mounted=$work/mnt/bench/blobs/sha256/$d
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }
rate() { # file -> MB/s
	local t0 t1
	t0=$(date +%s%N)
	cat "$1" >/dev/null
	t1=$(date +%s%N)
	echo $((SIZE_MB * 1000000000 / (t1 - t0)))
}
if drop; then cold=yes; else cold="no (cannot drop caches here)"; fi
echo "cold cache: $cold"
for run in 1 2 3; do
	drop || true
	dc=$(rate "$direct")
	drop || true
	mc=$(rate "$mounted")
	dw=$(rate "$direct")
	mw1=$(rate "$mounted")
	mw=$(rate "$mounted")
	printf 'run %d: cold direct %5d MB/s  mount %5d MB/s (%.2fx) | warm direct %5d MB/s  mount %5d MB/s (%.2fx)\n' \
		"$run" "$dc" "$mc" "$(echo "$mc / $dc" | bc -l)" "$dw" "$mw" \
		"$(echo "$mw / $dw" | bc -l)"
	: "$mw1"
done
