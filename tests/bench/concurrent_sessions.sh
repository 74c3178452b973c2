#!/usr/bin/env bash
# Many edge sessions on one worker: SESSIONS tandem-edge processes at once against one
# tandem-cloud (TLS, loopback), each a seeded sampled generation; checks every output
# equals the same generation run alone, and prints wall time and aggregate tokens/s for
# one-at-a-time vs all-at-once.
# Usage: tests/bench/concurrent_sessions.sh [BUILD_DIR] [MODEL]
#   env: SESSIONS (16), SPLIT (2), CODEC (q8), GEN_TOKENS (32), THREADS (1 per process)
#   The default model is the embedded stories260K; pass a TinyLlama-shape synth for load.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
model=${2:-$root/deploy/models/stories260K.gguf}
sessions=${SESSIONS:-16}
split=${SPLIT:-2}
codec=${CODEC:-q8}
n=${GEN_TOKENS:-32}
threads=${THREADS:-1}

work=$(mktemp -d)
cloud_pid=
trap '[ -n "$cloud_pid" ] && kill $cloud_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
bash "$root/deploy/make-dev-certs.sh" "$work/certs" >/dev/null
"$build/cloud/tandem-cloud" -m "$model" -t 2 --listen 127.0.0.1:0 --max-sessions "$sessions" \
  --tls-cert "$work/certs/server.pem" --tls-key "$work/certs/server.key" 2>"$work/cloud.log" &
cloud_pid=$!
for _ in $(seq 600); do grep -q listening "$work/cloud.log" && break; sleep 0.1; done
port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$work/cloud.log" | grep -oE '[0-9]+$')

edge() {  # SEED OUT
  "$build/edge/tandem-edge" -m "$model" --split "$split" --codec "$codec" -t "$threads" \
    --cloud "127.0.0.1:$port" --tls-ca "$work/certs/ca.pem" \
    -p "Once upon a time, story number $1:" -n "$n" --temp 0.8 --seed "$1" >"$2" 2>"$2.err"
}
now() { date +%s.%N; }

t0=$(now)
for s in $(seq "$sessions"); do edge "$s" "$work/alone-$s"; done
t1=$(now)
for s in $(seq "$sessions"); do edge "$s" "$work/together-$s" & done
wait $(jobs -p | grep -v "^$cloud_pid$") 2>/dev/null || true
t2=$(now)

same=0
for s in $(seq "$sessions"); do
  if cmp -s "$work/alone-$s" "$work/together-$s" && [ -s "$work/alone-$s" ]; then
    same=$((same + 1))
  else
    echo "session $s differs or failed:"; cat "$work/together-$s.err"
  fi
done
tokens=$(cat "$work"/alone-*.err | grep -oE 'generated: [0-9]+' | grep -oE '[0-9]+' |
  awk '{s += $1} END {print s}')
awk -v n="$sessions" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v tok="$tokens" -v same="$same" 'BEGIN {
    a = t1 - t0; b = t2 - t1
    printf "| sessions | mode | wall s | tokens/s (all sessions) |\n|---|---|---|---|\n"
    printf "| %d | one at a time | %.2f | %.1f |\n", n, a, tok / a
    printf "| %d | all at once | %.2f | %.1f |\n", n, b, tok / b
    printf "outputs identical to the one-at-a-time runs: %d/%d\n", same, n }'
[ "$same" -eq "$sessions" ]
