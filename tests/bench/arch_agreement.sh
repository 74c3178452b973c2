#!/usr/bin/env bash
# Real-shape agreement with llama.cpp, per architecture: synthetic models of real models'
# shapes (`tandem synth --shape smollm2-135m | qwen2.5-0.5b | qwen3-0.6b | llama3.2-1b`,
# random weights, the real 32k SentencePiece pieces padded to the real vocabulary size),
# and tests/integration/arch_agreement_test.py on them: tandem's greedy tokens (3 prompts x
# 32) must be llama.cpp's top token (or a p >= 0.9 p_top near tie) at every position.
# Usage: tests/bench/arch_agreement.sh [BUILD_DIR] [MODEL_DIR]
#   env: SHAPES ("smollm2-135m qwen2.5-0.5b qwen3-0.6b llama3.2-1b"), TYPES ("q8_0"),
#        THREADS (2), VOCAB (the 32k tokenizer.bin)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
models=${2:-/tmp/tandem-models}
shapes=${SHAPES:-smollm2-135m qwen2.5-0.5b qwen3-0.6b llama3.2-1b}
types=${TYPES:-q8_0}
vocab=${VOCAB:-$root/../shared/models/tokenizer.bin}
tandem="$build/common/tool/tandem"
[ -x "$tandem" ] || { echo "build tandem first: $tandem" >&2; exit 1; }
mkdir -p "$models"
args=()
for shape in $shapes; do
  for type in $types; do
    model="$models/$shape-$type.gguf"
    [ -f "$model" ] || "$tandem" synth --shape "$shape" --type "$type" --vocab "$vocab" \
      -o "$model" >&2
    args+=(--model "$model")
  done
done
python3 "$root/tests/integration/arch_agreement_test.py" "$tandem" "$models" --types "" \
  --threads "${THREADS:-2}" "${args[@]}" --no-synth
