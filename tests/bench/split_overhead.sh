#!/usr/bin/env bash
# Cost of splitting: decode tokens/s of tandem-edge + tandem-cloud over loopback (TLS, one
# codec) against local `tandem generate`, on the same model, same threads, in one run
# (rounds alternate). Also prints the wire bytes per position.
# Usage: tests/bench/split_overhead.sh [BUILD_DIR] [MODEL]
#   env: THREADS (2), SPLITS ("1 11"), CODEC (q8), GEN_TOKENS (64), ROUNDS (5), PROMPT
#   The default model is a synthetic TinyLlama-1.1B-shape Q4_0 made with `tandem synth`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
model=${2:-/tmp/tandem-models/tinyllama-1.1b-q4_0.gguf}
threads=${THREADS:-2}
splits=${SPLITS:-1 11}
codec=${CODEC:-q8}
n=${GEN_TOKENS:-64}
rounds=${ROUNDS:-5}
prompt=${PROMPT:-Once upon a time, in a small village by the sea, there lived}
vocab=${VOCAB:-$root/../shared/models/tokenizer.bin}

if [ ! -f "$model" ]; then
  mkdir -p "$(dirname "$model")"
  "$build/common/tool/tandem" synth --shape tinyllama-1.1b --type q4_0 --vocab "$vocab" \
    -o "$model" >&2
fi
work=$(mktemp -d)
cloud_pid=
trap '[ -n "$cloud_pid" ] && kill $cloud_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
bash "$root/deploy/make-dev-certs.sh" "$work/certs" >/dev/null

"$build/cloud/tandem-cloud" -m "$model" -t "$threads" --listen 127.0.0.1:0 \
  --tls-cert "$work/certs/server.pem" --tls-key "$work/certs/server.key" 2>"$work/cloud.log" &
cloud_pid=$!
for _ in $(seq 600); do grep -q listening "$work/cloud.log" && break; sleep 0.1; done
port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$work/cloud.log" | grep -oE '[0-9]+$')

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# decode tok/s from a timing line "... generated: N tokens in S s (X tok/s) ..."
tok_s() { grep -oE 'generated: [0-9]+ tokens in [0-9.]+ s \([0-9.]+ tok/s\)' | grep -oE '[0-9.]+ tok/s' | grep -oE '^[0-9.]+'; }

: > "$work/local"
for k in $splits; do : > "$work/split-$k"; done
for _ in $(seq "$rounds"); do
  "$build/common/tool/tandem" generate -m "$model" -p "$prompt" -n "$n" --temp 0 -t "$threads" \
    2>&1 >/dev/null | tok_s >> "$work/local"
  for k in $splits; do
    "$build/edge/tandem-edge" -m "$model" --split "$k" --codec "$codec" \
      --cloud "127.0.0.1:$port" --tls-ca "$work/certs/ca.pem" -t "$threads" \
      -p "$prompt" -n "$n" --temp 0 2>"$work/edge.log" >/dev/null
    tok_s < "$work/edge.log" >> "$work/split-$k"
    grep -oE '\(([0-9]+) per position\)' "$work/edge.log" | grep -oE '[0-9]+' > "$work/bytes-$k"
  done
done

local_tg=$(median < "$work/local")
printf '| setup | decode tok/s (median of %d) | ratio vs local | wire bytes/position |\n' "$rounds"
printf '|---|---|---|---|\n'
printf '| local tandem generate | %.2f | 1.00x | - |\n' "$local_tg"
for k in $splits; do
  tg=$(median < "$work/split-$k")
  awk -v k="$k" -v c="$codec" -v t="$tg" -v l="$local_tg" -v b="$(cat "$work/bytes-$k")" \
    'BEGIN { printf "| split K=%s, %s over loopback TLS | %.2f | %.2fx | %s |\n", k, c, t, t / l, b }'
done
