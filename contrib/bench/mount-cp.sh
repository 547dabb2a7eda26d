#!/usr/bin/env bash
# mount-cp.sh - publishing by cp: `cp -r` of an OCI layout (default 4 x
# 256 MiB layers) into the mount, hashing included, against a native
# `cp -r` of the same layout to the same disk; then `ls -lR` of N_REPOS
# (default 1,000) small repositories through the mount, warm. RUNS
# copies (default 5); the median ratio is printed last.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
DRAY=${DRAY_BIN:-$src/build/dray}
MKIMAGE=${MKIMAGE:-$src/build/mkimage}
LAYER=${LAYER:-268435456}
N_REPOS=${N_REPOS:-1000}
RUNS=${RUNS:-5}
work=$(mktemp -d /tmp/dray-mountcp.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/cfg.yaml" <<YAML
distSpecVersion: 1.1.0
http: {address: 127.0.0.1, port: 0}
storage: {rootDirectory: $work/data, gc: false}
log: {level: warn}
fuse: {mountpoint: $work/mnt}
YAML
"$MKIMAGE" "$work/img" v1 --layers 4 --layer-size "$LAYER" --seed 3 >/dev/null
"$DRAY" serve "$work/cfg.yaml" --port-file "$work/port" &
pid=$!
for ((k = 0; k < 100; k++)); do [ -s "$work/port" ] && break; sleep 0.1; done
ms() { local t0 t1; t0=$(date +%s%N); "$@"; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
echo "layout: $(du -sh "$work/img" | cut -f1)"
ratios=()
for ((run = 1; run <= RUNS; run++)); do
	n=$(ms bash -c "cp -r '$work/img' '$work/native$run' && sync -f '$work/native$run/index.json'")
	m=$(ms cp -r "$work/img" "$work/mnt/pub$run")
	curl -sf "http://127.0.0.1:$(cat "$work/port")/v2/pub$run/tags/list" >/dev/null
	r=$(echo "$n / $m" | bc -l)
	ratios+=("$r")
	printf 'run %d: native cp -r %5d ms, cp -r into the mount %5d ms: %.2fx native speed\n' \
		"$run" "$n" "$m" "$r"
	rm -rf "$work/native$run"
done
printf 'median of %d runs: %.2fx native speed\n' "$RUNS" \
	"$(printf '%s\n' "${ratios[@]}" | sort -g | sed -n "$(((RUNS + 1) / 2))p")"
"$MKIMAGE" "$work/small" v1 --layers 1 --layer-size 1000 --seed 4 >/dev/null
for ((i = 0; i < N_REPOS; i++)); do
	cp -al "$work/small" "$work/data/r$i"
done
ls -lR "$work/mnt" >/dev/null
for run in 1 2 3; do
	printf 'ls -lR of %d repositories through the mount, warm: %d ms\n' \
		"$N_REPOS" "$(ms bash -c "ls -lR '$work/mnt' >/dev/null")"
done
