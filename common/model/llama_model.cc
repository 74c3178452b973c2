#include "common/model/llama_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/model/shard_info.h"
#include "common/util/status_macros.h"
#include "common/util/string_view_compat.h"

namespace tandem {
namespace {

// Reads a positive integer hyperparameter that must fit comfortably in int32.
absl::StatusOr<int32_t> GetPositive(const GgufFile& f, std::string_view key) {
  ASSIGN_OR_RETURN(uint64_t v, f.GetUint(key));
  if (v == 0 || v > (1u << 24)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s = %d is out of range", key, v));
  }
  return static_cast<int32_t>(v);
}

// Llama 3.1 and later (rope base 500000, context beyond Llama 3's 8192) scale RoPE by the
// factors in rope_freqs.weight; without them every position's angles are wrong.
bool NeedsRopeFreqs(const LlamaHparams& hp) {
  return hp.arch.arch == Architecture::kLlama && hp.rope_freq_base == 500000.0f &&
         hp.context_length > 8192;
}

absl::StatusOr<LlamaHparams> ReadHparams(const GgufFile& f) {
  ASSIGN_OR_RETURN(std::string arch, f.GetString("general.architecture"));
  LlamaHparams hp;
  ASSIGN_OR_RETURN(hp.arch, ArchitectureByName(arch));
  // Every hyperparameter key is prefixed by the architecture's name.
  auto key = [&arch](std::string_view suffix) { return absl::StrCat(arch, ".", AbslView(suffix)); };
  ASSIGN_OR_RETURN(hp.dim, GetPositive(f, key("embedding_length")));
  ASSIGN_OR_RETURN(hp.ffn_dim, GetPositive(f, key("feed_forward_length")));
  ASSIGN_OR_RETURN(hp.n_layers, GetPositive(f, key("block_count")));
  ASSIGN_OR_RETURN(hp.n_heads, GetPositive(f, key("attention.head_count")));
  hp.n_kv_heads = hp.n_heads;
  if (f.Find(key("attention.head_count_kv")) != nullptr) {
    ASSIGN_OR_RETURN(hp.n_kv_heads, GetPositive(f, key("attention.head_count_kv")));
  }
  ASSIGN_OR_RETURN(hp.context_length, GetPositive(f, key("context_length")));
  if (f.Find(key("attention.layer_norm_rms_epsilon")) != nullptr) {
    ASSIGN_OR_RETURN(double eps, f.GetFloat(key("attention.layer_norm_rms_epsilon")));
    hp.rms_eps = static_cast<float>(eps);
  }
  if (f.Find(key("rope.freq_base")) != nullptr) {
    ASSIGN_OR_RETURN(double base, f.GetFloat(key("rope.freq_base")));
    hp.rope_freq_base = static_cast<float>(base);
  }
  if (hp.n_heads % hp.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "inconsistent head counts: heads %d, kv heads %d", hp.n_heads, hp.n_kv_heads));
  }
  // The head size: key_length where given (Qwen3: 128 with dim 1024 and 16 heads), else
  // dim / heads.
  if (f.Find(key("attention.key_length")) != nullptr) {
    ASSIGN_OR_RETURN(hp.head_dim, GetPositive(f, key("attention.key_length")));
  } else if (hp.dim % hp.n_heads == 0) {
    hp.head_dim = hp.dim / hp.n_heads;
  } else {
    return absl::InvalidArgumentError(
        absl::StrFormat("dim %d is not a multiple of the %d heads and %s is not given", hp.dim,
                        hp.n_heads, key("attention.key_length")));
  }
  for (const char* other : {"attention.value_length", "rope.dimension_count"}) {
    if (f.Find(key(other)) == nullptr) continue;
    ASSIGN_OR_RETURN(int32_t v, GetPositive(f, key(other)));
    if (v != hp.head_dim) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s = %d differs from the head dimension %d, which is not supported",
                          key(other), v, hp.head_dim));
    }
  }
  if (hp.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("head dimension ", hp.head_dim, " must be even for RoPE"));
  }
  if (auto scaling = f.GetString(key("rope.scaling.type")); scaling.ok() && *scaling != "none") {
    return absl::InvalidArgumentError(absl::StrCat(key("rope.scaling.type"), " '", *scaling,
                                                   "' is not supported (only llama3 rope_freqs)"));
  }
  if (!(hp.rms_eps > 0) || !(hp.rope_freq_base > 0)) {
    return absl::InvalidArgumentError("rms epsilon and rope freq base must be positive");
  }
  // The vocabulary size comes from the embedding or output tensor, checked below.
  return hp;
}

// Looks up a tensor and checks its shape (ne0 first) and that it has a usable type.
absl::StatusOr<const GgufTensorInfo*> Expect(const GgufFile& f, const std::string& name,
                                             std::vector<int64_t> shape) {
  const GgufTensorInfo* t = f.FindTensor(name);
  if (t == nullptr) return absl::InvalidArgumentError(absl::StrCat("missing tensor ", name));
  if (t->shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", name, " has shape [",
                                                   absl::StrJoin(t->shape, ","), "], expected [",
                                                   absl::StrJoin(shape, ","), "]"));
  }
  auto traits = TraitsOf(static_cast<uint32_t>(t->type));
  if (!traits || !traits->supported) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", name, " has type ", traits ? std::string(traits->name) : "unknown",
                     ", which is not supported (supported: ", SupportedTypeNames(), ")"));
  }
  return t;
}

absl::StatusOr<WeightView> Matrix(const GgufFile& f, const std::string& name, int64_t rows,
                                  int64_t cols) {
  ASSIGN_OR_RETURN(const GgufTensorInfo* t, Expect(f, name, {cols, rows}));
  return WeightView{t->type, rows, cols, t->data.data()};
}

// Norm weights and biases are always F32 in llama.cpp's GGUF files; they are tiny, so
// nothing else is needed.
absl::StatusOr<const float*> Vector(const GgufFile& f, const std::string& name, int64_t n) {
  ASSIGN_OR_RETURN(const GgufTensorInfo* t, Expect(f, name, {n}));
  if (t->type != GgmlType::kF32) {
    return absl::InvalidArgumentError(absl::StrCat("vector tensor ", name, " must be f32"));
  }
  if (reinterpret_cast<uintptr_t>(t->data.data()) % alignof(float) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", name, " is misaligned"));
  }
  return reinterpret_cast<const float*>(t->data.data());
}

// FNV-1a 64 over the bytes that define the model's structure and weights layout.
uint64_t Fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

std::string ModelIdentity(const GgufFile& f, const LlamaHparams& hp) {
  // Shards and re-quantized copies carry the identity of the model they came from.
  if (auto given = f.GetString(kIdentityKey); given.ok()) return *given;
  // Otherwise: the name, the hyperparameters, every tensor's name and shape, and the
  // vocabulary. Cheap (no weight bytes are read) and independent of the storage type, so a
  // Q4_0 copy on the device matches the F16 original on the worker.
  uint64_t h = 0xcbf29ce484222325ull;
  for (const GgufTensorInfo& t : f.tensors()) {
    h = Fnv1a(h, t.name);
    h = Fnv1a(h, absl::StrJoin(t.shape, "x"));
  }
  if (auto tokens = f.GetArray("tokenizer.ggml.tokens"); tokens.ok()) {
    for (const std::string& piece : (*tokens)->strings) h = Fnv1a(h, piece);
  }
  std::string name = "model";
  if (auto n = f.GetString("general.name"); n.ok()) name = *n;
  return absl::StrFormat("%s/%s-%dL-%dd-%dv/%016x", name, hp.arch.name, hp.n_layers, hp.dim,
                         hp.n_vocab, h);
}

std::string ModelName(const GgufFile& file, const std::string& path) {
  if (auto given = file.GetString("general.name"); given.ok() && !given->empty()) return *given;
  return std::filesystem::path(path).stem().string();
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(const std::string& path,
                                                             const LoadOptions& options) {
  auto model = std::unique_ptr<LlamaModel>(new LlamaModel());
  ASSIGN_OR_RETURN(model->gguf_, GgufFile::Open(path, options.load_mode));
  const GgufFile& f = *model->gguf_;
  ASSIGN_OR_RETURN(model->hparams_, ReadHparams(f));
  LlamaHparams& hp = model->hparams_;

  // The vocabulary size comes from the embedding, or from the head in a cloud shard.
  const GgufTensorInfo* vocab = f.FindTensor("token_embd.weight");
  if (vocab == nullptr) vocab = f.FindTensor("output.weight");
  if (vocab == nullptr || vocab->shape.size() != 2) {
    return absl::InvalidArgumentError("missing or malformed tensor token_embd.weight");
  }
  hp.n_vocab = static_cast<int32_t>(vocab->shape[1]);

  ASSIGN_OR_RETURN(const ShardInfo held, ReadShardInfo(f, hp.n_layers));
  const int32_t begin = options.layer_begin.value_or(held.layer_begin);
  const int32_t end = options.layer_end.value_or(held.layer_end);
  if (begin < 0 || begin > end || end > hp.n_layers) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "layer range [%d, %d) is not inside the model's %d layers", begin, end, hp.n_layers));
  }
  if (begin < end && (begin < held.layer_begin || end > held.layer_end)) {
    return absl::FailedPreconditionError(absl::StrFormat("%s (%s) does not hold layers [%d, %d)",
                                                         path, held.Describe(), begin, end));
  }
  const bool embedding = options.embedding.value_or(held.has_embedding);
  const bool head = options.head.value_or(held.has_head);
  if ((embedding && !held.has_embedding) || (head && !held.has_head)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s (%s) does not hold the %s", path, held.Describe(),
                        embedding && !held.has_embedding ? "token embedding" : "output head"));
  }
  model->layer_begin_ = begin;
  model->layer_end_ = end;

  const ArchitectureTraits& arch = hp.arch;
  const int64_t dim = hp.dim, q_dim = hp.q_dim(), kv_dim = hp.kv_dim(), ffn = hp.ffn_dim;
  for (int32_t i = begin; i < end; ++i) {
    const std::string p = absl::StrCat("blk.", i, ".");
    LayerWeights w;
    ASSIGN_OR_RETURN(w.attn_norm, Vector(f, p + "attn_norm.weight", dim));
    ASSIGN_OR_RETURN(w.wq, Matrix(f, p + "attn_q.weight", q_dim, dim));
    ASSIGN_OR_RETURN(w.wk, Matrix(f, p + "attn_k.weight", kv_dim, dim));
    ASSIGN_OR_RETURN(w.wv, Matrix(f, p + "attn_v.weight", kv_dim, dim));
    if (arch.qkv_bias_allowed) {
      const bool present = f.FindTensor(p + "attn_q.bias") != nullptr;
      if (present || arch.qkv_bias_required) {
        auto bias = [&](const char* which, int64_t n) -> absl::StatusOr<const float*> {
          const std::string name = absl::StrCat(p, which, ".bias");
          if (f.FindTensor(name) == nullptr) {
            return absl::InvalidArgumentError(absl::StrCat(
                "missing tensor ", name, " (", AbslView(arch.name), " models have Q/K/V biases)"));
          }
          return Vector(f, name, n);
        };
        ASSIGN_OR_RETURN(w.bq, bias("attn_q", q_dim));
        ASSIGN_OR_RETURN(w.bk, bias("attn_k", kv_dim));
        ASSIGN_OR_RETURN(w.bv, bias("attn_v", kv_dim));
      }
    }
    if (arch.qk_norm) {
      ASSIGN_OR_RETURN(w.q_norm, Vector(f, p + "attn_q_norm.weight", hp.head_dim));
      ASSIGN_OR_RETURN(w.k_norm, Vector(f, p + "attn_k_norm.weight", hp.head_dim));
    }
    ASSIGN_OR_RETURN(w.wo, Matrix(f, p + "attn_output.weight", dim, q_dim));
    ASSIGN_OR_RETURN(w.ffn_norm, Vector(f, p + "ffn_norm.weight", dim));
    ASSIGN_OR_RETURN(w.w_gate, Matrix(f, p + "ffn_gate.weight", ffn, dim));
    ASSIGN_OR_RETURN(w.w_up, Matrix(f, p + "ffn_up.weight", ffn, dim));
    ASSIGN_OR_RETURN(w.w_down, Matrix(f, p + "ffn_down.weight", dim, ffn));
    model->layers_.push_back(w);
  }
  // Llama 3 rope scaling: one [head_dim / 2] vector for all layers, needed by every part
  // that runs layers.
  if (begin < end) {
    if (arch.rope_freqs_allowed && f.FindTensor("rope_freqs.weight") != nullptr) {
      ASSIGN_OR_RETURN(model->rope_freqs_, Vector(f, "rope_freqs.weight", hp.head_dim / 2));
      for (int i = 0; i < hp.head_dim / 2; ++i) {
        if (!(model->rope_freqs_[i] > 0) || !std::isfinite(model->rope_freqs_[i])) {
          return absl::InvalidArgumentError(
              absl::StrCat("rope_freqs.weight[", i, "] is not a positive finite number"));
        }
      }
    } else if (NeedsRopeFreqs(hp)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "missing tensor rope_freqs.weight: a llama model with rope base %g and context %d "
          "(Llama 3.1 or later) needs its llama3 rope scaling factors; reconvert the model "
          "with llama.cpp's convert_hf_to_gguf.py",
          hp.rope_freq_base, hp.context_length));
    }
  }
  if (embedding) {
    ASSIGN_OR_RETURN(model->token_embd_, Matrix(f, "token_embd.weight", hp.n_vocab, dim));
    model->has_embedding_ = true;
  }
  if (head) {
    ASSIGN_OR_RETURN(model->output_norm_, Vector(f, "output_norm.weight", dim));
    // Models with tied embeddings have no output.weight: the head reuses token_embd's
    // (mapped or copied) bytes, so the matrix is in memory once.
    model->tied_head_ = f.FindTensor("output.weight") == nullptr;
    const char* head_name = model->tied_head_ ? "token_embd.weight" : "output.weight";
    ASSIGN_OR_RETURN(model->output_, Matrix(f, head_name, hp.n_vocab, dim));
    model->has_head_ = true;
  }

  model->identity_ = ModelIdentity(f, hp);
  return model;
}

}  // namespace tandem
