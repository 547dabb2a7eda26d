#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer harnesses (clang, ASan + UBSan, tests/fuzz)
# and run each one in turn for a bounded time from its seed corpus, which
# holds every crash found so far as a regression input.
#
#   contrib/ci/fuzz.sh [BUILD_DIR]      (default build-fuzz)
#
# DRAY_FUZZ_SECONDS sets the time per harness (default 10; harnesses run
# one per core at a time, so fourteen of them take about 70 s on 2 cores,
# plus the build). Fails on any
# crash, leak, hang (10 s per input) or broken invariant; prints execs/s
# and libFuzzer's cov:/ft: figures per harness.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-fuzz}

CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DDRAY_SANITIZE=address,undefined -DDRAY_FUZZ=ON >/dev/null
cmake --build "$build" --target fuzzers -j"$(nproc)" >/dev/null
bash tests/fuzz/run.sh "$build" "${DRAY_FUZZ_SECONDS:-10}"
