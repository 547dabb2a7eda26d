#!/usr/bin/env bash
# run.sh - run every libFuzzer harness of a DRAY_FUZZ build, one after
# the other, each for a bounded time, starting from its seed corpus in
# tests/fuzz/corpus/<name>/ (which also holds the regression inputs of
# every crash found so far, so those are replayed first), with the
# dictionary tests/fuzz/dict/<name>.dict where there is one.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_HARNESS] [HARNESS...]
#
# Harnesses run in parallel, one per core (FUZZ_JOBS sets how many).
# Prints per harness the executions per second and libFuzzer's final
# cov:/ft: figures. Exits 1 if any harness crashed, leaked, hung or broke
# one of its invariants; the input that did it is kept under
# $FUZZ_ARTIFACTS (default BUILD_DIR/fuzz-artifacts) and its report
# printed. New inputs the runs find go to a scratch corpus, never into
# the tree: add one by hand when it is worth keeping.
set -euo pipefail

build=$(cd "${1:?usage: run.sh BUILD_DIR [SECONDS] [HARNESS...]}" && pwd)
secs=${2:-20}
shift $(($# < 2 ? $# : 2))
src=$(cd "$(dirname "$0")" && pwd)
artifacts=${FUZZ_ARTIFACTS:-$build/fuzz-artifacts}
mkdir -p "$artifacts"

if [ $# -gt 0 ]; then
	harnesses=("$@")
else
	harnesses=()
	for f in "$src"/fuzz_*.c; do
		harnesses+=("$(basename "$f" .c)")
	done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dray-fuzz-run.XXXXXX")
trap 'rm -rf "$work"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run_one HARNESS: run it and write its table row to $work/row-NAME and,
# on failure, its report to $work/fail-NAME.
run_one() {
	local h=$1 name bin seeds log dict rc done_line execs rate cov ft result
	name=${h#fuzz_}
	bin=$build/$h
	seeds=$src/corpus/$name
	mkdir -p "$work/corpus-$name" "$work/tmp-$name"
	log=$work/$name.log
	echo "== $h: ${secs}s from $(find "$seeds" -type f | wc -l) seeds"
	dict=()
	[ ! -f "$src/dict/$name.dict" ] || dict=(-dict="$src/dict/$name.dict")
	rc=0
	TMPDIR=$work/tmp-$name "$bin" "$work/corpus-$name" "$seeds" "${dict[@]}" \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=8192 -use_value_profile=1 -print_final_stats=1 \
		-artifact_prefix="$artifacts/$name-" >"$log" 2>&1 || rc=$?
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n1 || true)
	[ -n "$done_line" ] || done_line=$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
	result=ok
	if [ "$rc" -ne 0 ]; then
		result="FAILED (exit $rc)"
		{
			echo "--- $h failed; its report:"
			grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$log" | tail -n 60
			ls "$artifacts"/"$name"-* 2>/dev/null | sed 's/^/input kept: /' || true
		} >"$work/fail-$name"
	fi
	printf '%-16s %10s %8s %8s %8s  %s\n' "$h" "${execs:--}" "${rate:--}" \
		"${cov:--}" "${ft:--}" "$result" >"$work/row-$name"
}

for h in "${harnesses[@]}"; do
	if [ ! -x "$build/$h" ]; then
		echo "run.sh: $build/$h not built (configure with CC=clang -DDRAY_FUZZ=ON)" >&2
		exit 2
	fi
done
# One harness per core at a time (FUZZ_JOBS overrides): each is
# single-threaded, so this halves the wall time on 2 cores without
# shortening any harness's run.
jobs=${FUZZ_JOBS:-$(nproc)}
for h in "${harnesses[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n || true
	done
	run_one "$h" &
done
wait

printf '%-16s %10s %8s %8s %8s  %s\n' harness execs exec/s cov ft result >"$work/table"
failed=()
for h in "${harnesses[@]}"; do
	name=${h#fuzz_}
	if [ -f "$work/row-$name" ]; then
		cat "$work/row-$name" >>"$work/table"
	else
		printf '%-16s %10s %8s %8s %8s  %s\n' "$h" - - - - "FAILED (no result)" >>"$work/table"
		failed+=("$h")
	fi
	if [ -f "$work/fail-$name" ]; then
		cat "$work/fail-$name"
		failed+=("$h")
	fi
done

echo
cat "$work/table"
if [ ${#failed[@]} -gt 0 ]; then
	echo "run.sh: failed: ${failed[*]}" >&2
	exit 1
fi
