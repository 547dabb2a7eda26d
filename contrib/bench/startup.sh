#!/usr/bin/env bash
# startup.sh - how long dray takes to start on a large store: N
# repositories (default 10,000) of one 10-blob image each (100,000 blob
# files, hard links of one image), first with no index (full build), then
# with nothing changed (the common restart), then after touching 1% of
# the repositories. Prints the reconcile time dray logs and the wall time
# until it listens.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
DRAY=${DRAY_BIN:-$src/build/dray}
MKIMAGE=${MKIMAGE:-$src/build/mkimage}
N=${N:-10000}
work=$(mktemp -d /tmp/dray-startup.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

"$MKIMAGE" "$work/img" v1 --layers 8 --layer-size 4096 --seed 7 >/dev/null
mkdir -p "$work/data"
echo "making $N repositories..."
for ((i = 0; i < N; i++)); do
	d="$work/data/r$((i / 100))/app$i"
	mkdir -p "${d%/*}"
	cp -al "$work/img" "$d"
	# Blobs are shared links; each layout's own files are its own.
	cp --remove-destination "$work/img/index.json" "$work/img/oci-layout" "$d/"
done
echo "blob files: $(find "$work/data" -path '*/blobs/*' -type f | wc -l)"

cat >"$work/cfg.yaml" <<YAML
distSpecVersion: 1.1.0
http: {address: 127.0.0.1, port: 0}
storage: {rootDirectory: $work/data, gc: false}
log: {level: info, output: $work/dray.log}
YAML

run() {
	local label=$1 t0 t1
	rm -f "$work/port"
	: >"$work/dray.log"
	t0=$(date +%s%N)
	"$DRAY" serve "$work/cfg.yaml" --port-file "$work/port" &
	pid=$!
	for ((k = 0; k < 600; k++)); do
		[ -s "$work/port" ] && break
		sleep 0.05
	done
	t1=$(date +%s%N)
	kill "$pid"
	wait "$pid" || true
	pid=
	printf '%-28s listening after %6d ms; %s\n' "$label" \
		$(((t1 - t0) / 1000000)) \
		"$(grep -o 'index reconciled.*' "$work/dray.log" | head -1)"
}

run "no index (full build)"
run "nothing changed"
run "nothing changed (again)"
for ((i = 0; i < N; i += 100)); do
	touch "$work/data/r$((i / 100))/app$i/index.json"
done
run "1% touched"
