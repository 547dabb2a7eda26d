#!/usr/bin/env bash
# setup.sh - install the dependencies and build build/dray (Release).
set -euo pipefail
cd "$(dirname "$0")/.."
bash contrib/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo "built $(pwd)/build/dray"
