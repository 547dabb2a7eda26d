#!/usr/bin/env bash
# test.sh - install everything, build with AddressSanitizer + UBSan, and
# run every test (cmocka unit tests and the integration suite) with ctest.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash contrib/install-deps.sh --test

build=${DRAY_TEST_BUILD:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug \
	-DDRAY_SANITIZE=address,undefined -DDRAY_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
# No retries: a case that fails once is a failure (a retry would hide a
# flaky product or a test that waits on time instead of events).
# Three at a time on two cores: many cases wait on their daemon or a
# client more than they compute.
ctest --output-on-failure -j3 --timeout 900
bash "$OLDPWD/contrib/ci/fuzz.sh" # $OLDPWD: the source tree, before cd "$build"
bash "$OLDPWD/contrib/ci/tsan.sh"
