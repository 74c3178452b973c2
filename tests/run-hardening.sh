#!/usr/bin/env bash
# CI stage for issue 15: (1) every libFuzzer target, built with clang + ASan + UBSan, runs
# for FUZZ_SECONDS on its corpus (new finds stay in a scratch copy; crashes fail the stage);
# (2) an ASan+UBSan build (-O1, gcc) runs the unit, fuzz-replay and security tests.
# Usage: tests/run-hardening.sh [work-dir]   (default: build-hardening)
#   env: FUZZ_SECONDS (30 per target), SANITIZER_TESTS (ctest -L regex, see below)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-build-hardening}
fuzz_seconds=${FUZZ_SECONDS:-30}
jobs=$(nproc)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
                                         -DCMAKE_C_COMPILER_LAUNCHER=ccache)
stage_start=$SECONDS

# ---- fuzzing ---------------------------------------------------------------------------
cmake -S . -B "$work/fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_BENCH=OFF \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DTANDEM_FUZZ=ON -DTANDEM_ASAN=ON \
  -DTANDEM_UBSAN=ON "${launcher[@]}" >/dev/null
targets=(codec json_request tokenizer edge_messages)
cmake --build "$work/fuzz" -j"$jobs" --target gguf_fuzz "${targets[@]/%/_fuzz}"
for name in "${targets[@]}" gguf; do
  scratch="$work/fuzz-corpus/$name"
  mkdir -p "$scratch"
  extra=()
  [ "$name" = gguf ] && extra=(-dict=tests/fuzz/gguf.dict -max_len=8192)
  echo "fuzzing $name for ${fuzz_seconds}s"
  "$work/fuzz/tests/fuzz/${name}_fuzz" -max_total_time="$fuzz_seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/fuzz-corpus/$name-" \
    "${extra[@]}" "$scratch" "tests/fuzz/corpus/$name" 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY|crash-" || true
  if ls "$work/fuzz-corpus/$name-"crash-* "$work/fuzz-corpus/$name-"timeout-* >/dev/null 2>&1; then
    echo "FAIL: $name fuzzer found a crash or hang: $(ls "$work/fuzz-corpus/$name-"*)"
    exit 1
  fi
done
echo "fuzzing: $((SECONDS - stage_start)) s"

# ---- ASan + UBSan test run -------------------------------------------------------------
asan_start=$SECONDS
cmake -S . -B "$work/asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DTANDEM_BENCH=OFF -DTANDEM_ASAN=ON -DTANDEM_UBSAN=ON "${launcher[@]}" >/dev/null
cmake --build "$work/asan" -j"$jobs"
# Leaks are reported at exit; gRPC's and protobuf's process-lifetime singletons are not.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$work/asan" --output-on-failure -j"$jobs" --timeout 900 \
  -LE "${SANITIZER_SKIP_LABELS:-bench|deploy|lint}"
echo "ASan+UBSan build and tests: $((SECONDS - asan_start)) s; stage total $((SECONDS - stage_start)) s"
