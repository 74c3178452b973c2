// `tandem synth`: a llama-family model (llama, qwen2, qwen3) with random weights at a real
// shape (synth_shapes.h), for speed and correctness work where no trained model of that size
// is at hand. Weights are N(0, 0.02)-ish (sum of uniforms), biases N(0, 0.1)-ish, norms are
// 1 (per-head q/k norms 2 + N(0, 0.5)), q and k weights
// scaled for peaked attention (below), and each row's values depend only on (seed, tensor,
// row), so the file is reproducible whatever the thread count.
#include <cmath>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/gguf/gguf_writer.h"
#include "common/model/architecture.h"
#include "common/tensor/quantize.h"
#include "common/tokenizer/hf_tokenizer_json.h"
#include "common/tokenizer/llama2c_vocab.h"
#include "common/tool/commands.h"
#include "common/tool/progress.h"
#include "common/tool/synth_shapes.h"
#include "common/util/status_macros.h"
#include "common/util/thread_pool.h"

namespace tandem {
namespace {

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
  ASSIGN_OR_RETURN(SynthShape shape, FindSynthShape(config.shape));
  if (!config.arch.empty()) shape.arch = config.arch;
  ASSIGN_OR_RETURN(const ArchitectureTraits arch, ArchitectureByName(shape.arch));
  std::optional<GgmlType> type = ParseSupportedType(config.type);
  if (!type) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown type '", config.type, "' (use ", SupportedTypeNames(), ")"));
  }
  Vocabulary vocab;
  std::string chat_template;
  if (absl::EndsWith(config.vocab_path, ".json")) {
    ASSIGN_OR_RETURN(HfTokenizer hf,
                     LoadHfTokenizer(config.vocab_path, config.tokenizer_config_path));
    vocab = std::move(hf.vocab);
    chat_template = std::move(hf.chat_template);
  } else if (!config.tokenizer_config_path.empty()) {
    return absl::InvalidArgumentError("--tokenizer-config goes with a tokenizer.json --vocab");
  } else if (!config.vocab_path.empty()) {
    ASSIGN_OR_RETURN(vocab, LoadLlama2cVocabulary(config.vocab_path));
  } else {
    vocab = ByteVocabulary();
  }
  if (shape.vocab == 0) shape.vocab = static_cast<int32_t>(vocab.pieces.size());
  if (static_cast<int32_t>(vocab.pieces.size()) > shape.vocab) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "shape %s has a vocabulary of %d tokens; %s has %d, more than that", config.shape,
        shape.vocab, config.vocab_path.empty() ? "the byte vocabulary" : config.vocab_path,
        vocab.pieces.size()));
  }
  // A real shape's vocabulary (128k, 152k) can be bigger than the one at hand: the rest are
  // unused tokens, so the embedding and head have the real size and the tokenizer the real
  // pieces.
  const size_t padded = shape.vocab - vocab.pieces.size();
  for (size_t i = 0; i < padded; ++i) {
    vocab.pieces.push_back(absl::StrFormat("<|unused_%d|>", i));
    vocab.types.push_back(TokenType::kUnused);
    vocab.scores.push_back(0.0f);
  }
  const int32_t head_dim = shape.head_dim > 0 ? shape.head_dim : shape.dim / shape.heads;
  const bool rope_freqs = arch.rope_freqs_allowed && shape.rope_scaling.factor > 0;

  GgufWriter w;
  auto key = [&](const char* suffix) { return absl::StrCat(shape.arch, ".", suffix); };
  w.SetString("general.architecture", shape.arch);
  w.SetString("general.name", absl::StrCat("synthetic-", config.shape));
  w.SetUint32(key("context_length"), shape.context);
  w.SetUint32(key("embedding_length"), shape.dim);
  w.SetUint32(key("feed_forward_length"), shape.ffn);
  w.SetUint32(key("block_count"), shape.layers);
  w.SetUint32(key("attention.head_count"), shape.heads);
  w.SetUint32(key("attention.head_count_kv"), shape.kv_heads);
  if (shape.head_dim > 0) {
    w.SetUint32(key("attention.key_length"), head_dim);
    w.SetUint32(key("attention.value_length"), head_dim);
  }
  w.SetUint32(key("rope.dimension_count"), head_dim);
  w.SetFloat32(key("attention.layer_norm_rms_epsilon"), shape.rms_eps);
  w.SetFloat32(key("rope.freq_base"), shape.rope_base);
  WriteTokenizerKeys(vocab, chat_template, w);

  ThreadPool pool(2);
  uint64_t tensor_index = 0;
  // A tensor of `rows` rows whose values are `base` + N(0, stddev); 1-row tensors are
  // written as vectors.
  auto add = [&](const std::string& name, int64_t rows, int64_t cols, GgmlType t, float base,
                 float stddev) {
    const uint64_t seed = config.seed * 0x100000001b3ull + (++tensor_index << 32);
    std::vector<int64_t> dims =
        rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
    w.AddTensor(name, dims, t, [=, &pool](std::vector<uint8_t>& dst) {
      const size_t row_bytes = RowBytes(t, cols);
      pool.ParallelFor(rows, 16, [&](int64_t begin, int64_t end) {
        std::vector<float> values(cols, 0.0f);
        for (int64_t r = begin; r < end; ++r) {
          if (stddev > 0) {
            RandomRow(seed + static_cast<uint64_t>(r), stddev, values.data(), cols);
          } else {
            std::fill(values.begin(), values.end(), 0.0f);
          }
          for (float& v : values) v += base;
          QuantizeRow(t, values.data(), dst.data() + r * row_bytes, cols);
        }
      });
      return absl::OkStatus();
    });
  };
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    add(name, rows, cols, *type, 0.0f, 0.02f);
  };
  auto vector = [&](const std::string& name, int64_t n, float base, float stddev) {
    add(name, 1, n, GgmlType::kF32, base, stddev);
  };
  const int32_t q_dim = head_dim * shape.heads, kv_dim = head_dim * shape.kv_heads;
  // Attention scores of standard deviation ~3 (std(q.k / sqrt(head_dim)) = stddev^2 dim),
  // as in trained models, so that attention is peaked and positions (RoPE) matter; with
  // 0.02 every head would average uniformly and a wrong rotation would go unnoticed.
  const float qk_stddev = std::sqrt(3.0f / shape.dim);
  // Every matrix row must hold whole blocks of the weight type (K-quants: 256 values).
  const GgmlTypeTraits traits = TraitsOf(*type);
  for (const int64_t cols : {int64_t{shape.dim}, int64_t{q_dim}, int64_t{shape.ffn}}) {
    if (cols % traits.block_size != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "shape %s has %d-value rows, not a multiple of %s's block size %d (pick another "
          "--type or --shape)",
          config.shape, cols, traits.name, traits.block_size));
    }
  }
  matrix("token_embd.weight", shape.vocab, shape.dim);
  if (rope_freqs) {
    const std::vector<float> freqs = Llama3RopeFreqs(shape.rope_scaling, shape.rope_base, head_dim);
    w.AddTensor("rope_freqs.weight", {head_dim / 2}, GgmlType::kF32,
                [freqs](std::vector<uint8_t>& dst) {
                  std::memcpy(dst.data(), freqs.data(), freqs.size() * sizeof(float));
                  return absl::OkStatus();
                });
  }
  for (int32_t l = 0; l < shape.layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    vector(p + "attn_norm.weight", shape.dim, 1.0f, 0.0f);
    add(p + "attn_q.weight", q_dim, shape.dim, *type, 0.0f, qk_stddev);
    add(p + "attn_k.weight", kv_dim, shape.dim, *type, 0.0f, qk_stddev);
    matrix(p + "attn_v.weight", kv_dim, shape.dim);
    if (arch.qkv_bias_required) {
      vector(p + "attn_q.bias", q_dim, 0.0f, 0.1f);
      vector(p + "attn_k.bias", kv_dim, 0.0f, 0.1f);
      vector(p + "attn_v.bias", kv_dim, 0.0f, 0.1f);
    }
    if (arch.qk_norm) {
      vector(p + "attn_q_norm.weight", head_dim, 2.0f, 0.5f);
      vector(p + "attn_k_norm.weight", head_dim, 2.0f, 0.5f);
    }
    matrix(p + "attn_output.weight", shape.dim, q_dim);
    vector(p + "ffn_norm.weight", shape.dim, 1.0f, 0.0f);
    matrix(p + "ffn_gate.weight", shape.ffn, shape.dim);
    matrix(p + "ffn_up.weight", shape.ffn, shape.dim);
    matrix(p + "ffn_down.weight", shape.dim, shape.ffn);
  }
  vector("output_norm.weight", shape.dim, 1.0f, 0.0f);
  if (!shape.tied_head) matrix("output.weight", shape.vocab, shape.dim);
  RETURN_IF_ERROR(
      w.Write(config.output_path, TerminalProgress(config.show_progress, err, "synth")));
  out << absl::StrFormat("wrote %s: %s shape, %s architecture, %s weights%s%s\n",
                         config.output_path, config.shape, shape.arch, TraitsOf(*type).name,
                         shape.tied_head ? ", tied head" : "",
                         padded > 0 ? absl::StrFormat(", %d unused tokens", padded) : "");
  return absl::OkStatus();
}

}  // namespace tandem
