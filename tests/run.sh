#!/usr/bin/env bash
# Sets up this machine (Debian bookworm), builds Tandem and runs the whole test suite.
# Usage: tests/run.sh [build-dir]    (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
start=$SECONDS

bash deploy/install-deps.sh
echo "run.sh: dependencies ready after $((SECONDS - start)) s"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_WERROR=ON
cmake --build "$build" -j"$(nproc)"
echo "run.sh: build done after $((SECONDS - start)) s"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 600
echo "run.sh: tests done after $((SECONDS - start)) s"
