#!/usr/bin/env bash
# Sets up this machine, builds Tandem and runs the demo on the embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

bash deploy/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target tandem

"$build/common/tool/tandem" generate -p "${PROMPT:-Once upon a time}" -n "${N:-100}" --temp 0
