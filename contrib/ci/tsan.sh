#!/usr/bin/env bash
# tsan.sh - build dray with ThreadSanitizer (clang) and run the cases that
# stress concurrency: GC racing pushes, concurrent pushes of one blob, the
# mount beside HTTP, SIGHUP reloads under requests, credential checks on
# the offload pool, upstream fetches on the pull pool, blobs streamed to
# clients as they arrive, and the store, index, reload and offload pool
# unit tests.
#
#   contrib/ci/tsan.sh [BUILD_DIR]      (default build-tsan)
#
# Any report fails the run: halt_on_error stops the process at the first
# one, and reports also go to files that are checked afterwards, so one
# from a daemon whose exit status no case looks at still counts.
# Suppressions (contrib/ci/tsan.supp) cover only the uninstrumented RocksDB
# (and the libstdc++ it calls: dray itself is C).
# DRAY_TSAN_CASES replaces the ctest regex; DRAY_TSAN_KEEP=1 keeps the
# report directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
build=${1:-build-tsan}
cases=${DRAY_TSAN_CASES:-'^(unit/(store_blob|store_manifest|store_list|index|catalog|reload|offload|events|zot|userprefs)|it/(gc-race|concurrent-same-blob|mount-concurrent|ops-reload|http-offload|sync-offload|sync-stream))$'}

CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug \
	-DDRAY_SANITIZE=thread -DDRAY_WERROR=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

reports=$(mktemp -d "${TMPDIR:-/tmp}/dray-tsan.XXXXXX")
trap '[ -n "${DRAY_TSAN_KEEP:-}" ] || rm -rf "$reports"' EXIT
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$src/contrib/ci/tsan.supp:log_path=$reports/tsan"
# TSan slows the daemon 5-15x: fewer pushes in mount-concurrent (the
# default is 12) keep this step short; the case has no time bound.
export N_PUSH=${N_PUSH:-3}
# ops-reload: fewer SIGHUPs under load (the default is 8; keep it even).
export N_RELOAD=${N_RELOAD:-4}
rc=0
(cd "$build" && ctest --output-on-failure --timeout 900 -R "$cases") || rc=$?
if compgen -G "$reports/tsan.*" >/dev/null; then
	echo "tsan.sh: ThreadSanitizer reports:" >&2
	cat "$reports"/tsan.* >&2
	rc=1
fi
[ "$rc" -eq 0 ] && echo "tsan.sh: no data races in: $cases"
exit "$rc"
