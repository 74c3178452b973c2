#!/usr/bin/env bash
# Sets up this machine (Debian bookworm), builds Tandem and runs the whole test suite.
# Usage: tests/run.sh [build-dir]    (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

bash deploy/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_WERROR=ON
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 600
