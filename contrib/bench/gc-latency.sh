#!/usr/bin/env bash
# gc-latency.sh - pull latency while GC works on a large store, against
# the same store idle. N repositories (default 2,000) each hold a tagged
# image plus garbage (an untagged manifest's worth of unreferenced blobs);
# dray runs once with GC off (idle) and once with gcDelay 0s and a 1 s
# gcInterval, so GC passes run back to back for the whole measurement.
# Prints p50/p99 of GET manifest by tag and HEAD blob from headload.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
DRAY=${DRAY_BIN:-$src/build/dray}
MKIMAGE=${MKIMAGE:-$src/build/mkimage}
N=${N:-2000}
SECS=${SECS:-5}
work=$(mktemp -d /tmp/dray-gclat.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -o "$work/headload" "$here/headload.c"

"$MKIMAGE" "$work/img" v1 --layers 4 --layer-size 65536 --seed 1 >/dev/null
"$MKIMAGE" "$work/junk" v1 --layers 8 --layer-size 4096 --seed 2 >/dev/null
make_store() {
	rm -rf "$work/data"
	mkdir -p "$work/data"
	for ((i = 0; i < N; i++)); do
		d="$work/data/g$((i / 100))/app$i"
		mkdir -p "${d%/*}"
		cp -al "$work/img" "$d"
		cp --remove-destination "$work/img/index.json" "$d/"
		# Garbage: the other image's blobs, named by no manifest here.
		ln "$work"/junk/blobs/sha256/* "$d/blobs/sha256/" 2>/dev/null || true
	done
}

run() { # label gc-yaml
	cat >"$work/cfg.yaml" <<YAML
distSpecVersion: 1.1.0
http: {address: 127.0.0.1, port: 0}
storage: {rootDirectory: $work/data, $2}
log: {level: info, output: $work/dray.log}
YAML
	rm -f "$work/port"
	"$DRAY" serve "$work/cfg.yaml" --port-file "$work/port" &
	pid=$!
	for ((k = 0; k < 600; k++)); do
		[ -s "$work/port" ] && break
		sleep 0.05
	done
	local url="http://127.0.0.1:$(cat "$work/port")"
	sleep 1.5 # let the first GC pass start
	local m b
	m=$("$work/headload" -m GET -c 8 -d "$SECS" \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"$url/v2/g$((N / 200))/app$((N / 2))/manifests/v1")
	b=$("$work/headload" -m HEAD -c 8 -d "$SECS" \
		"$url/v2/g0/app1/blobs/$(jq -r '.manifests[0].digest' "$work/img/index.json")")
	kill "$pid"
	wait "$pid" || true
	pid=
	printf '%-10s manifest GET: %s\n' "$1" \
		"$(grep -o 'rps=[0-9.]*\|p50_us=[0-9]*\|p99_us=[0-9]*' <<<"$m" | tr '\n' ' ')"
	printf '%-10s blob HEAD:    %s\n' "$1" \
		"$(grep -o 'rps=[0-9.]*\|p50_us=[0-9]*\|p99_us=[0-9]*' <<<"$b" | tr '\n' ' ')"
	grep -o 'gc: .*' "$work/dray.log" | head -3 | sed "s/^/$1 /" || true
}

echo "store: $N repositories"
make_store
run idle "gc: false"
make_store
run gc "gc: true, gcDelay: 0s, gcInterval: 1s"
