#!/usr/bin/env bash
# Sanitizer stage (issue 15): (1) every libFuzzer target, built with clang + ASan + UBSan,
# runs for FUZZ_SECONDS on its corpus (new finds stay in a scratch copy; crashes fail the
# stage); (2) an ASan+UBSan build (-O1, gcc) runs the tests.
# Usage: tests/run-hardening.sh [work-dir]   (default: build-hardening)
#   env: FUZZ_SECONDS   seconds per fuzz target (default 30; the long run: 600, README)
#        FUZZ_TARGETS="codec gguf" (default: every target)
#        TANDEM_HARDENING_PARTS="fuzz asan" (default: both; .ci/run times them apart)
#        TANDEM_HARDENING_TESTS=all (default): every test but bench, deploy and lint
#          under ASan+UBSan; ci: the subset .ci/run runs (README, "Fuzzing and sanitizers"):
#          the unit tests, the fault-injection gtests, the fuzz corpus replays and the
#          hostile-client suite, building only their targets.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-build-hardening}
fuzz_seconds=${FUZZ_SECONDS:-30}
tests=${TANDEM_HARDENING_TESTS:-all}
parts=" ${TANDEM_HARDENING_PARTS:-fuzz asan} "
jobs=$(nproc)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
                                         -DCMAKE_C_COMPILER_LAUNCHER=ccache)
stage_start=$SECONDS

# ---- fuzzing ---------------------------------------------------------------------------
if [[ $parts == *" fuzz "* ]]; then
  cmake -S . -B "$work/fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_BENCH=OFF \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DTANDEM_FUZZ=ON -DTANDEM_ASAN=ON \
    -DTANDEM_UBSAN=ON "${launcher[@]}" >/dev/null
  read -r -a targets <<<"${FUZZ_TARGETS:-codec json_request tokenizer edge_messages gguf}"
  cmake --build "$work/fuzz" -j"$jobs" --target "${targets[@]/%/_fuzz}"
  echo "fuzz build: $((SECONDS - stage_start)) s"
  for name in "${targets[@]}"; do
    scratch="$work/fuzz-corpus/$name"
    log="$work/fuzz-corpus/$name.log"
    mkdir -p "$scratch"
    extra=()
    [ "$name" = gguf ] && extra=(-dict=tests/fuzz/gguf.dict -max_len=8192)
    echo "fuzzing $name for ${fuzz_seconds}s"
    rc=0
    "$work/fuzz/tests/fuzz/${name}_fuzz" -max_total_time="$fuzz_seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/fuzz-corpus/$name-" \
      "${extra[@]}" "$scratch" "tests/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
    grep -E "stat::number_of_executed_units|ERROR|SUMMARY|crash-" "$log" || true
    # A crash, hang, leak or out-of-memory input is saved as an artifact and exits non-zero.
    # A slow-unit artifact is not a failure: an input that took long once (on a loaded
    # machine, a descheduled run); a real hang exceeds -timeout and is a timeout artifact.
    for slow in "$work/fuzz-corpus/$name-slow-unit-"*; do
      if [ -e "$slow" ]; then echo "note: $name slow unit (not a failure): $slow"; fi
    done
    if [ "$rc" -ne 0 ] || ls "$work/fuzz-corpus/$name-"{crash,leak,timeout,oom}-* >/dev/null 2>&1; then
      tail -n 40 "$log"
      echo "FAIL: $name fuzzer exited with $rc; artifacts: $(ls "$work/fuzz-corpus/$name-"* 2>/dev/null)"
      exit 1
    fi
  done
  echo "fuzzing: $((SECONDS - stage_start)) s"
fi

# ---- ASan + UBSan test run -------------------------------------------------------------
if [[ $parts == *" asan "* ]]; then
  asan_start=$SECONDS
  cmake -S . -B "$work/asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
    -DTANDEM_BENCH=OFF -DTANDEM_ASAN=ON -DTANDEM_UBSAN=ON "${launcher[@]}" >/dev/null
  # The ci subset: tests without a label (unit tests, fault-injection gtests, the GGUF corpus)
  # and the fuzz replays, then the hostile-client suite (labels security;integration).
  ci_select=(-LE 'bench|deploy|lint|integration')
  if [ "$tests" = ci ]; then
    # Only the targets those tests run: not tandem, tandem-tune, tandem-loadgen.
    cmake --build "$work/asan" -j"$jobs" --target tandem-cloud tandem-edge tests/unit/all \
      tests/fault/all tests/fuzz/all
  else
    cmake --build "$work/asan" -j"$jobs"
  fi
  echo "ASan+UBSan build: $((SECONDS - asan_start)) s"
  # Leaks are reported at exit; gRPC's and protobuf's process-lifetime singletons are not.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest_args=(--test-dir "$work/asan" --output-on-failure -j"$jobs" --timeout 900)
  if [ "$tests" = ci ]; then
    ctest "${ctest_args[@]}" "${ci_select[@]}" --no-tests=error
    ctest "${ctest_args[@]}" -L security --no-tests=error
  else
    ctest "${ctest_args[@]}" -LE 'bench|deploy|lint'
  fi
  echo "ASan+UBSan build and tests: $((SECONDS - asan_start)) s; stage total $((SECONDS - stage_start)) s"
fi
