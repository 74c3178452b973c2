#!/usr/bin/env bash
# Speculative edge-cloud decoding against plain split decoding, behind a delay proxy
# (delay_proxy.py) at several round-trip times: decode tokens/s with and without
# speculation (one-shot tandem-edge runs alternating, same worker, same prompt), the draft
# acceptance, tokens per round trip and wire bytes per position; and local decode of the
# whole target model (`tandem generate`) for the break-even.
#
# Usage: tests/bench/speculative.sh [BUILD_DIR] [PAIR]
#   PAIR: stories (default; the embedded stories260K as the target, its own Q8_0
#         quantization as the draft) or tinyllama (a synthetic TinyLlama-1.1B-shape Q4_0
#         target with a llama-110m-shape Q8_0 draft of the same 32k vocabulary: random
#         weights, so the draft and the target disagree and speculation must turn itself off)
#   env: RTTS ("0 20 40 80", ms), THREADS (2), SPLIT (2), CODEC (q8), GEN_TOKENS (64),
#        ROUNDS (3), TEMP (0), PROMPT, MODELS (/tmp/tandem-models)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
pair=${2:-stories}
rtts=${RTTS:-0 20 40 80}
threads=${THREADS:-2}
split=${SPLIT:-2}
codec=${CODEC:-q8}
n=${GEN_TOKENS:-64}
rounds=${ROUNDS:-3}
temp=${TEMP:-0}
prompt=${PROMPT:-Once upon a time, there was a little girl named Lily. She}
models=${MODELS:-/tmp/tandem-models}
vocab=${VOCAB:-$root/../shared/models/tokenizer.bin}
tandem=$build/common/tool/tandem

mkdir -p "$models"
case "$pair" in
  stories)
    target=$root/deploy/models/stories260K.gguf
    draft=$models/stories260K-q8_0.gguf
    [ -f "$draft" ] || "$tandem" quantize --type q8_0 "$target" "$draft" >&2
    ;;
  tinyllama)
    target=$models/tinyllama-1.1b-q4_0.gguf
    draft=$models/llama-110m-q8_0.gguf
    [ -f "$target" ] || "$tandem" synth --shape tinyllama-1.1b --type q4_0 --vocab "$vocab" \
      -o "$target" >&2
    [ -f "$draft" ] || "$tandem" synth --shape llama-110m --type q8_0 --vocab "$vocab" \
      -o "$draft" >&2
    ;;
  *) echo "unknown pair $pair (stories | tinyllama)" >&2; exit 2 ;;
esac

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
bash "$root/deploy/make-dev-certs.sh" "$work/certs" >/dev/null

"$build/cloud/tandem-cloud" -m "$target" -t "$threads" --listen 127.0.0.1:0 \
  --tls-cert "$work/certs/server.pem" --tls-key "$work/certs/server.key" 2>"$work/cloud.log" &
pids+=($!)
for _ in $(seq 600); do grep -q listening "$work/cloud.log" && break; sleep 0.1; done
port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$work/cloud.log" | grep -oE '[0-9]+$')

# One proxy per RTT (0: direct).
declare -A endpoint
for rtt in $rtts; do
  if [ "$rtt" = 0 ]; then
    endpoint[$rtt]=127.0.0.1:$port
    continue
  fi
  python3 "$here/delay_proxy.py" --target "127.0.0.1:$port" \
    --delay-ms "$(awk -v r="$rtt" 'BEGIN {print r / 2}')" >"$work/proxy-$rtt.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$work/proxy-$rtt.log" && break; sleep 0.1; done
  endpoint[$rtt]=$(grep -oE '127\.0\.0\.1:[0-9]+' "$work/proxy-$rtt.log" | head -1)
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
tok_s() { grep -oE 'generated: [0-9]+ tokens in [0-9.]+ s \([0-9.]+ tok/s\)' | grep -oE '[0-9.]+ tok/s' | grep -oE '^[0-9.]+'; }
per_position() { grep -oE '\(([0-9]+) per position\)' | grep -oE '[0-9]+'; }

edge() {  # edge RTT OUT_LOG extra flags...
  local rtt=$1 log=$2
  shift 2
  "$build/edge/tandem-edge" -m "$target" --split "$split" --codec "$codec" \
    --cloud "${endpoint[$rtt]}" --tls-ca "$work/certs/ca.pem" -t "$threads" \
    --step-deadline-floor-ms 2000 -p "$prompt" -n "$n" --temp "$temp" "$@" 2>"$log" >/dev/null
}

: > "$work/local"
for rtt in $rtts; do : > "$work/plain-$rtt"; : > "$work/spec-$rtt"; : > "$work/acc-$rtt"; done
for _ in $(seq "$rounds"); do
  "$tandem" generate -m "$target" -p "$prompt" -n "$n" --temp "$temp" -t "$threads" \
    2>&1 >/dev/null | tok_s >> "$work/local"
  for rtt in $rtts; do
    edge "$rtt" "$work/plain.log" --no-speculation
    tok_s < "$work/plain.log" >> "$work/plain-$rtt"
    per_position < "$work/plain.log" > "$work/plain-bytes-$rtt"
    edge "$rtt" "$work/spec.log" --draft-model "$draft"
    tok_s < "$work/spec.log" >> "$work/spec-$rtt"
    per_position < "$work/spec.log" > "$work/spec-bytes-$rtt"
    # "speculation: A of D drafts accepted, T tokens per round trip" (absent: no drafts)
    line=$(grep -oE 'speculation: [0-9]+ of [0-9]+ drafts accepted, [0-9.]+ tokens per round trip' \
      "$work/spec.log" || true)
    if [ -n "$line" ]; then
      echo "$line" | awk '{print $2, $4, $7}' >> "$work/acc-$rtt"
    else
      echo "0 0 1" >> "$work/acc-$rtt"
    fi
  done
done

local_tg=$(median < "$work/local")
printf 'pair %s: target %s, draft %s; split K=%s, codec %s, %s threads, %s tokens, temp %s, median of %s\n\n' \
  "$pair" "$(basename "$target")" "$(basename "$draft")" "$split" "$codec" "$threads" "$n" \
  "$temp" "$rounds"
printf '| RTT ms | plain split tok/s | speculative tok/s | ratio | acceptance | tokens/round trip | bytes/position plain | bytes/position spec | vs local full model (%.1f tok/s) |\n' "$local_tg"
printf '|---|---|---|---|---|---|---|---|---|\n'
for rtt in $rtts; do
  plain=$(median < "$work/plain-$rtt")
  spec=$(median < "$work/spec-$rtt")
  acc=$(awk '{a += $1; d += $2} END {printf "%.2f", (d > 0 ? a / d : 0)}' "$work/acc-$rtt")
  per_round=$(awk '{print $3}' "$work/acc-$rtt" | median)
  printf '| %s | %.2f | %.2f | %.2fx | %s | %.2f | %s | %s | %.2fx |\n' "$rtt" "$plain" "$spec" \
    "$(awk -v a="$spec" -v b="$plain" 'BEGIN {print a / b}')" "$acc" "$per_round" \
    "$(cat "$work/plain-bytes-$rtt")" "$(cat "$work/spec-bytes-$rtt")" \
    "$(awk -v a="$spec" -v b="$local_tg" 'BEGIN {print a / b}')"
done
