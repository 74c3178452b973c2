#!/usr/bin/env bash
# Continuous batching on the worker: tandem-loadgen drives 1, 2, 4, ... sessions against
# one tandem-cloud (TLS, loopback, THREADS compute threads) and prints a table of
# aggregate tokens/s and decode step latency, with the speed-up over one session.
# Usage: tests/bench/batching.sh [BUILD_DIR] [MODEL]
#   env: COUNTS ("1 2 4 8 16 32"), SPLIT (1), PROMPT_TOKENS (16), GEN_TOKENS (32),
#        THREADS (2), DEADLINE_MS (unset: no target declared), CODEC (q8),
#        CLOUD_FLAGS (extra tandem-cloud flags, e.g. "--batch-gather-ms 0")
#   MODEL defaults to the embedded stories260K; the README's figures use a synthetic
#   TinyLlama-1.1B-shape Q4_0 (`tandem synth --shape tinyllama-1.1b --type q4_0 --vocab ...`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
model=${2:-$root/deploy/models/stories260K.gguf}
counts=${COUNTS:-1 2 4 8 16 32}
split=${SPLIT:-1}
prompt=${PROMPT_TOKENS:-16}
gen=${GEN_TOKENS:-32}
threads=${THREADS:-2}
codec=${CODEC:-q8}
deadline=()
[ -n "${DEADLINE_MS:-}" ] && deadline=(--token-deadline-ms "$DEADLINE_MS")

work=$(mktemp -d)
cloud_pid=
trap '[ -n "$cloud_pid" ] && kill $cloud_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
bash "$root/deploy/make-dev-certs.sh" "$work/certs" >/dev/null
max=$(echo $counts | tr ' ' '\n' | sort -n | tail -1)
"$build/cloud/tandem-cloud" -m "$model" -t "$threads" --listen 127.0.0.1:0 \
  --max-sessions "$max" ${CLOUD_FLAGS:-} --tls-cert "$work/certs/server.pem" --tls-key "$work/certs/server.key" \
  2>"$work/cloud.log" &
cloud_pid=$!
for _ in $(seq 1200); do grep -q listening "$work/cloud.log" && break; sleep 0.1; done
port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$work/cloud.log" | grep -oE '[0-9]+$')

echo "| sessions | admitted | aggregate tok/s | vs 1 session | p50 step ms | p99 step ms | deadline misses |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
base=
for n in $counts; do
  json=$("$build/edge/tandem-loadgen" --cloud "127.0.0.1:$port" --tls-ca "$work/certs/ca.pem" \
    --model "$model" --split "$split" --sessions "$n" --prompt-tokens "$prompt" \
    --gen-tokens "$gen" --codec "$codec" --seed "$n" "${deadline[@]}" --json)
  echo "$json" >>"$work/results.jsonl"
  python3 - "$json" "${base:-}" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
base = float(sys.argv[2]) if sys.argv[2] else r["aggregate_tok_s"]
base = base or 1.0  # every session refused: ratios are meaningless, not a crash
print("| %d | %d | %.1f | %.2fx | %.1f | %.1f | %d |" % (
    r["sessions"], r["admitted"], r["aggregate_tok_s"], r["aggregate_tok_s"] / base,
    r["p50_step_ms"], r["p99_step_ms"], r["deadline_misses"]))
PY
  if [ -z "$base" ]; then
    base=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['aggregate_tok_s'])" "$json")
  fi
done
