#!/usr/bin/env bash
# mount-cp.sh - publishing by cp: `cp -r` of an OCI layout (default 4 x
# 256 MiB layers) into the mount, hashing and syncing included, against a
# native `cp -r` of the same layout to the same disk plus `sync -f`, side
# by side in one run. RUNS runs (default 5); each run makes a layout of
# new content, then times, in an order that flips from run to run:
#   new:    native cp -r + sync -f, and cp -r into the mount (content the
#           store does not hold yet: every byte is hashed and written)
#   stored: the same again into a second repository (content the store
#           holds: deduplicated by hard link)
# Every step starts after a sync, so no step pays for an earlier one's
# writeback. Ratios are native time / mount time (1.00x: as fast as a
# native copy); the medians are printed last. Then `ls -lR` of N_REPOS
# (default 1,000) small repositories through the mount, warm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
DRAY=${DRAY_BIN:-$src/build/dray}
MKIMAGE=${MKIMAGE:-$src/build/mkimage}
LAYER=${LAYER:-268435456}
LAYERS=${LAYERS:-4}
N_REPOS=${N_REPOS:-1000}
RUNS=${RUNS:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/dray-mountcp.XXXXXX")
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
"$DRAY" serve "$work/cfg.yaml" --port-file "$work/port" &
pid=$!
for ((k = 0; k < 100; k++)); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
ms() { local t0 t1; t0=$(date +%s%N); "$@"; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
native() { cp -r "$1" "$2" && sync -f "$2/index.json"; }
# The mount's time: cp -r, and the repository answering over HTTP.
mount_cp() {
	cp -r "$1" "$work/mnt/$2" &&
		curl -sf "http://127.0.0.1:$port/v2/$2/tags/list" >/dev/null
}
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
# pair IMG REPO: time a native copy of IMG and a copy into the mount as
# REPO, one after the other (which first flips with the run); sets n, m.
pair() {
	if ((run % 2)); then
		n=$(ms native "$1" "$work/native$run")
		sync
		m=$(ms mount_cp "$1" "$2")
	else
		m=$(ms mount_cp "$1" "$2")
		sync
		n=$(ms native "$1" "$work/native$run")
	fi
	rm -rf "$work/native$run"
	sync
}
new=() stored=()
for ((run = 1; run <= RUNS; run++)); do
	img=$work/img$run
	"$MKIMAGE" "$img" v1 --layers "$LAYERS" --layer-size "$LAYER" \
		--seed $((100 + run)) >/dev/null
	[ "$run" = 1 ] && echo "layout: $(du -sh "$img" | cut -f1) ($LAYERS layers)"
	sync
	pair "$img" "new$run"
	new+=("$(echo "$n / $m" | bc -l)")
	printf 'run %d new:    native cp -r + sync %5d ms, cp -r into the mount %5d ms: %.2fx native speed\n' \
		"$run" "$n" "$m" "${new[-1]}"
	pair "$img" "stored$run"
	stored+=("$(echo "$n / $m" | bc -l)")
	printf 'run %d stored: native cp -r + sync %5d ms, cp -r into the mount %5d ms: %.2fx native speed\n' \
		"$run" "$n" "$m" "${stored[-1]}"
	rm -rf "$img"
done
printf 'median of %d runs, new content:    %.2fx native speed\n' "$RUNS" "$(median "${new[@]}")"
printf 'median of %d runs, stored content: %.2fx native speed\n' "$RUNS" "$(median "${stored[@]}")"
[ "$N_REPOS" -gt 0 ] || exit 0
"$MKIMAGE" "$work/small" v1 --layers 1 --layer-size 1000 --seed 4 >/dev/null
for ((i = 0; i < N_REPOS; i++)); do
	cp -al "$work/small" "$work/data/r$i"
done
ls -lR "$work/mnt" >/dev/null
for run in 1 2 3; do
	printf 'ls -lR of %d repositories through the mount, warm: %d ms\n' \
		"$N_REPOS" "$(ms bash -c "ls -lR '$work/mnt' >/dev/null")"
done
