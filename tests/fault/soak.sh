#!/usr/bin/env bash
# The long version of the fault tests (ctest runs 100 faults; this runs thousands):
#   1. in process: tests/fault/fault_test with TANDEM_FAULTS faults per seed, for SEEDS seeds
#      (a real worker over gRPC + TLS behind the fault proxy, killed and restarted in
#      process; every token checked against the unfaulted run);
#   2. real processes: soak_processes.py for SECONDS seconds (two tandem-cloud workers behind
#      tandem-fault-proxy processes, kill -9 and restart, a tandem-edge daemon with the
#      fallback model, streamed completions over its HTTP API).
# Usage: tests/fault/soak.sh [BUILD_DIR]   (env: FAULTS=1000 SEEDS=3 SOAK_SECONDS=300)
# Needs the targets fault_test, tandem-fault-proxy, tandem-cloud and tandem-edge built.
set -euo pipefail
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$source_dir/build}" && pwd)"
faults="${FAULTS:-1000}"
seeds="${SEEDS:-3}"
seconds="${SOAK_SECONDS:-300}"

for bin in tests/fault/fault_test tests/fault/tandem-fault-proxy cloud/tandem-cloud \
           edge/tandem-edge; do
  [[ -x "$build/$bin" ]] || { echo "soak: $build/$bin is not built" >&2; exit 1; }
done

start=$(date +%s)
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for seed in $(seq 1 "$seeds"); do
  echo "== in process: $faults faults, seed $seed"
  if ! TANDEM_FAULTS="$faults" TANDEM_FAULT_SEED="$seed" \
       "$build/tests/fault/fault_test" --gtest_filter='FaultTest.HundredMixed*' >"$log" 2>&1; then
    cat "$log"
    echo "soak: FAILED (in process, seed $seed)" >&2
    exit 1
  fi
  grep -E '^faults:' "$log"
done
echo "== real processes: $seconds s"
python3 "$source_dir/tests/fault/soak_processes.py" "$build" "$source_dir" --seconds "$seconds"
echo "soak: OK in $(( $(date +%s) - start )) s"
