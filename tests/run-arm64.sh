#!/usr/bin/env bash
# Cross-builds Tandem for arm64 (aarch64 gateways: Raspberry Pi 4/5, i.MX 8, Jetson,
# Rockchip) on a Debian bookworm x86-64 machine and runs the test suite under user-mode
# QEMU. Sets the machine up first (deploy/install-deps-arm64.sh: multiarch arm64
# libraries, cross compiler, qemu-user-static, binfmt_misc).
#
# - Every test runs as a Cortex-A72 (Raspberry Pi 4, ARMv8.0-A): the baseline binary must
#   not contain a newer instruction anywhere. The kernel tests run again as a Cortex-A76
#   (ARMv8.2 + dotprod, Pi 5 class; the ".dotprod" tests) for the sdot kernels.
# - The mixed-architecture split: the arm64 tandem-edge (under QEMU) against the x86-64
#   tandem-cloud worker, with the x86-64 `tandem generate` as the oracle
#   (integration_split_e2e_mixed_arch; the host binaries come from HOST_BUILD, built here
#   if missing).
# - Tests that cannot run under emulation are skipped with the reason printed (below):
#   none where binfmt_misc can be registered (root on a VM or bare metal).
#
# Usage: tests/run-arm64.sh [build-dir]   (default: build-arm64)
# Env:   TANDEM_ARM64_TESTS=all (default) or ci: the subset .ci/run runs (README, "ARM64").
#        HOST_BUILD=dir of the x86-64 build (default: build, the one tests/run.sh makes).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-arm64}
host_build=${HOST_BUILD:-build}
tests=${TANDEM_ARM64_TESTS:-all}
jobs=$(nproc)
start=$SECONDS

bash deploy/install-deps-arm64.sh

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

# The x86-64 worker and tools for the mixed-architecture test (configured like tests/run.sh).
if [ ! -f "$host_build/CMakeCache.txt" ]; then
  cmake -S . -B "$host_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_WERROR=ON
fi
cmake --build "$host_build" -j"$jobs" --target tandem tandem-cloud

# Release: -O3 without debug info (smaller objects, a faster cross build on CI).
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON \
  -DCMAKE_TOOLCHAIN_FILE=deploy/cmake/aarch64-linux-gnu.cmake "${launcher[@]}" \
  -DTANDEM_HOST_BUILD_DIR="$(cd "$host_build" && pwd)"
# The CI subset (README, "ARM64"): what depends on the CPU architecture (kernels, quant
# formats, hidden-state codecs, the layer-range forward pass, sampler, thread pool) and the
# mixed-architecture split; everything else is the same code the native job tests.
ci_test_dirs=(tests/unit/common/kernels tests/unit/common/tensor tests/unit/common/codec
              tests/unit/common/model tests/unit/common/util tests/unit/common/sampler)
if [ "$tests" = ci ]; then
  targets=(tandem-edge tandem)
  for d in "${ci_test_dirs[@]}"; do targets+=("$d/all"); done
  cmake --build "$build" -j"$jobs" --target "${targets[@]}"
else
  cmake --build "$build" -j"$jobs"
fi
echo "run-arm64: build done after $((SECONDS - start)) s"

# The .deb for arm64 gateways (tandem-edge + tandem + the systemd unit).
(cd "$build" && cpack -G DEB -B packages >/dev/null)
deb=$(ls "$build"/packages/tandem-edge_*_arm64.deb)
echo "run-arm64: $deb ($(du -k "$deb" | cut -f1) KiB)"
dpkg-deb --field "$deb" Package Version Architecture Depends
dpkg-deb --contents "$deb" | awk '{print "  " $6}'

# Tests that start arm64 programs themselves (Python scripts, tests that spawn the
# daemons) need binfmt_misc; the test binaries alone run through the CMake emulator.
skip=()
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  if [ "$tests" != ci ]; then
    echo "run-arm64: binfmt_misc is unavailable (needs root on the host); the integration," \
      "deploy and fault tests start arm64 programs directly. Run as root or with TANDEM_ARM64_TESTS=ci." >&2
    exit 1
  fi
  echo "run-arm64: SKIPPED integration_split_e2e_mixed_arch: it starts the arm64 tandem-edge" \
    "from Python, which needs binfmt_misc (unavailable here)"
  skip=(-E '^integration_split_e2e_mixed_arch$')
fi

ctest_args=(--output-on-failure -j"$jobs" --timeout 900)
# Raspberry Pi 4's core: ARMv8.0-A, no dotprod (inherited by every arm64 process).
export QEMU_CPU=cortex-a72
if [ "$tests" = ci ]; then
  echo "run-arm64: CI subset: ${ci_test_dirs[*]} and integration_split_e2e_mixed_arch"
  for d in "${ci_test_dirs[@]}"; do
    ctest --test-dir "$build/$d" "${ctest_args[@]}" --no-tests=error
  done
  ctest --test-dir "$build" "${ctest_args[@]}" -R '^integration_split_e2e_mixed_arch$' "${skip[@]}"
else
  ctest --test-dir "$build" "${ctest_args[@]}"
fi
echo "run-arm64: done after $((SECONDS - start)) s"
