// `tandem synth`: a llama model with random weights at a real shape, for speed work
// where no trained model of that size is at hand. Weights are N(0, 0.02)-ish (sum of
// uniforms), norms are 1, and each row's values depend only on (seed, tensor, row), so
// the file is reproducible whatever the thread count.
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/gguf/gguf_writer.h"
#include "common/tensor/quantize.h"
#include "common/tokenizer/llama2c_vocab.h"
#include "common/tool/commands.h"
#include "common/tool/progress.h"
#include "common/util/status_macros.h"
#include "common/util/thread_pool.h"

namespace tandem {
namespace {

struct Shape {
  int32_t vocab, dim, ffn, layers, heads, kv_heads, context;
};

const std::map<std::string, Shape>& Shapes() {
  static const auto* shapes = new std::map<std::string, Shape>{
      // TinyLlama-1.1B (Llama 2 architecture, GQA).
      {"tinyllama-1.1b", {32000, 2048, 5632, 22, 32, 4, 2048}},
      // llama2.c stories110M (Llama 2 architecture, ~110M parameters).
      {"llama-110m", {32000, 768, 2048, 12, 12, 12, 1024}},
      // A small model for fast tests of the quantized paths.
      {"tiny", {0, 128, 384, 4, 4, 2, 256}},
  };
  return *shapes;
}

// A byte-level vocabulary: <unk>, <s>, </s>, then the 256 byte tokens.
Vocabulary ByteVocabulary() {
  Vocabulary v;
  v.pieces = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  for (int b = 0; b < 256; ++b) {
    v.pieces.push_back(absl::StrFormat("<0x%02X>", b));
    v.types.push_back(TokenType::kByte);
  }
  v.scores.assign(v.pieces.size(), 0.0f);
  return v;
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Fills `row` with approximately normal values of standard deviation `stddev`.
void RandomRow(uint64_t seed, float stddev, float* row, int64_t n) {
  uint64_t state = seed;
  // Sum of 4 uniforms in [-1, 1) has variance 4/3.
  const float scale = stddev / std::sqrt(4.0f / 3.0f);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t r = SplitMix64(state);
    float s = 0;
    for (int k = 0; k < 4; ++k) {
      s += static_cast<float>(static_cast<int16_t>(r >> (16 * k))) / 32768.0f;
    }
    row[i] = s * scale;
  }
}

}  // namespace

absl::Status RunSynth(const SynthConfig& config, std::ostream& out, std::ostream& err) {
  auto it = Shapes().find(config.shape);
  if (it == Shapes().end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown shape '", config.shape,
                                                   "' (use tinyllama-1.1b, llama-110m or tiny)"));
  }
  std::optional<GgmlType> type = ParseSupportedType(config.type);
  if (!type) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown type '", config.type, "' (use q8_0, q4_0, f16 or f32)"));
  }
  Shape shape = it->second;
  Vocabulary vocab;
  if (!config.vocab_path.empty()) {
    ASSIGN_OR_RETURN(vocab, LoadLlama2cVocabulary(config.vocab_path));
  } else {
    vocab = ByteVocabulary();
  }
  if (shape.vocab == 0) shape.vocab = static_cast<int32_t>(vocab.pieces.size());
  if (static_cast<int32_t>(vocab.pieces.size()) != shape.vocab) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "shape %s needs a vocabulary of %d tokens; %s has %d (pass --vocab with the 32k "
        "llama2.c tokenizer.bin)",
        config.shape, shape.vocab,
        config.vocab_path.empty() ? "the byte vocabulary" : config.vocab_path,
        vocab.pieces.size()));
  }

  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetString("general.name", absl::StrCat("synthetic-", config.shape));
  w.SetUint32("llama.context_length", shape.context);
  w.SetUint32("llama.embedding_length", shape.dim);
  w.SetUint32("llama.feed_forward_length", shape.ffn);
  w.SetUint32("llama.block_count", shape.layers);
  w.SetUint32("llama.attention.head_count", shape.heads);
  w.SetUint32("llama.attention.head_count_kv", shape.kv_heads);
  w.SetUint32("llama.rope.dimension_count", shape.dim / shape.heads);
  w.SetFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.SetFloat32("llama.rope.freq_base", 10000.0f);
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", vocab.pieces);
  w.SetFloat32Array("tokenizer.ggml.scores", vocab.scores);
  std::vector<int32_t> types;
  for (TokenType t : vocab.types) types.push_back(static_cast<int32_t>(t));
  w.SetInt32Array("tokenizer.ggml.token_type", types);
  w.SetUint32("tokenizer.ggml.unknown_token_id", vocab.unk_id);
  w.SetUint32("tokenizer.ggml.bos_token_id", vocab.bos_id);
  w.SetUint32("tokenizer.ggml.eos_token_id", vocab.eos_id);

  ThreadPool pool(2);
  uint64_t tensor_index = 0;
  auto add = [&](const std::string& name, int64_t rows, int64_t cols, GgmlType t) {
    const uint64_t seed = config.seed * 0x100000001b3ull + (++tensor_index << 32);
    std::vector<int64_t> dims =
        rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
    w.AddTensor(name, dims, t, [=, &pool](std::vector<uint8_t>& dst) {
      const size_t row_bytes = RowBytes(t, cols);
      pool.ParallelFor(rows, 16, [&](int64_t begin, int64_t end) {
        std::vector<float> values(cols);
        for (int64_t r = begin; r < end; ++r) {
          if (rows == 1) {
            std::fill(values.begin(), values.end(), 1.0f);  // norm weights
          } else {
            RandomRow(seed + static_cast<uint64_t>(r), 0.02f, values.data(), cols);
          }
          QuantizeRow(t, values.data(), dst.data() + r * row_bytes, cols);
        }
      });
      return absl::OkStatus();
    });
  };
  const int32_t kv_dim = shape.dim / shape.heads * shape.kv_heads;
  add("token_embd.weight", shape.vocab, shape.dim, *type);
  for (int32_t l = 0; l < shape.layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    add(p + "attn_norm.weight", 1, shape.dim, GgmlType::kF32);
    add(p + "attn_q.weight", shape.dim, shape.dim, *type);
    add(p + "attn_k.weight", kv_dim, shape.dim, *type);
    add(p + "attn_v.weight", kv_dim, shape.dim, *type);
    add(p + "attn_output.weight", shape.dim, shape.dim, *type);
    add(p + "ffn_norm.weight", 1, shape.dim, GgmlType::kF32);
    add(p + "ffn_gate.weight", shape.ffn, shape.dim, *type);
    add(p + "ffn_up.weight", shape.ffn, shape.dim, *type);
    add(p + "ffn_down.weight", shape.dim, shape.ffn, *type);
  }
  add("output_norm.weight", 1, shape.dim, GgmlType::kF32);
  add("output.weight", shape.vocab, shape.dim, *type);
  RETURN_IF_ERROR(
      w.Write(config.output_path, TerminalProgress(config.show_progress, err, "synth")));
  out << absl::StrFormat("wrote %s: %s shape, %s weights\n", config.output_path, config.shape,
                         TraitsOf(*type).name);
  return absl::OkStatus();
}

}  // namespace tandem
