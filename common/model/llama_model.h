// A llama-family model (see architecture.h: llama, qwen2, qwen3) loaded from GGUF: hyperparameters
// and views of the weights (mmapped, never copied). A model can be loaded partially (only the
// embedding and layers [0, K) on an edge device, only layers [K, N) and the head on a worker); the
// pieces not loaded are simply absent and asking for them is a FailedPrecondition.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/gguf/gguf_file.h"
#include "common/kernels/matmul.h"
#include "common/model/architecture.h"

namespace tandem {

// Hyperparameters; the GGUF keys are prefixed by the architecture's name
// (llama.embedding_length, qwen2.embedding_length, ...).
struct LlamaHparams {
  ArchitectureTraits arch;  // general.architecture
  int32_t n_vocab = 0;
  int32_t dim = 0;                  // <arch>.embedding_length
  int32_t ffn_dim = 0;              // <arch>.feed_forward_length
  int32_t n_layers = 0;             // <arch>.block_count
  int32_t n_heads = 0;              // <arch>.attention.head_count
  int32_t n_kv_heads = 0;           // <arch>.attention.head_count_kv (defaults to n_heads)
  int32_t head_dim = 0;             // <arch>.attention.key_length (defaults to dim / n_heads)
  int32_t context_length = 0;       // <arch>.context_length
  float rms_eps = 1e-5f;            // <arch>.attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;  // <arch>.rope.freq_base
  int32_t q_dim() const { return n_heads * head_dim; }
  int32_t kv_dim() const { return n_kv_heads * head_dim; }
};

struct LayerWeights {
  const float* attn_norm = nullptr;  // [dim]
  WeightView wq;                     // [q_dim, dim]
  WeightView wk;                     // [kv_dim, dim]
  WeightView wv;                     // [kv_dim, dim]
  const float* bq = nullptr;         // [q_dim] or nullptr (qwen2: always present)
  const float* bk = nullptr;         // [kv_dim] or nullptr
  const float* bv = nullptr;         // [kv_dim] or nullptr
  const float* q_norm = nullptr;     // [head_dim] or nullptr (qwen3: RMSNorm per q head)
  const float* k_norm = nullptr;     // [head_dim] or nullptr (qwen3: RMSNorm per k head)
  WeightView wo;                     // [dim, q_dim]
  const float* ffn_norm = nullptr;   // [dim]
  WeightView w_gate;                 // [ffn_dim, dim]
  WeightView w_up;                   // [ffn_dim, dim]
  WeightView w_down;                 // [dim, ffn_dim]
};

// Which parts to load. Defaults: everything the file holds (a whole model: all of it; a
// shard, see shard_info.h: its layers, and the embedding and head if it has them). Asking
// for a part a shard does not hold is a FailedPrecondition naming what the shard holds.
struct LoadOptions {
  std::optional<int32_t> layer_begin;    // nullopt: the first layer the file holds
  std::optional<int32_t> layer_end;      // nullopt: up to the last layer the file holds
  std::optional<bool> embedding;         // nullopt: if the file holds it
  std::optional<bool> head;              // output_norm + output; nullopt: if the file holds it
  LoadMode load_mode = LoadMode::kMmap;  // see common/util/mapped_file.h
};

// GGUF key under which derived files (shards, quantized copies) store the identity of the
// model they were made from.
inline constexpr char kIdentityKey[] = "tandem.model_identity";

// A model's display name: general.name, else the file name of `path` without extension.
std::string ModelName(const GgufFile& file, const std::string& path);

// The identity of the model in `file` (see LlamaModel::identity()).
std::string ModelIdentity(const GgufFile& file, const LlamaHparams& hparams);

class LlamaModel {
 public:
  // Opens and validates `path`: a supported architecture (architecture.h), shapes
  // consistent with the hyperparameters, the tensors the architecture needs, supported
  // tensor types (InvalidArgument naming the architecture or tensor otherwise).
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Load(const std::string& path,
                                                          const LoadOptions& options = {});

  const LlamaHparams& hparams() const { return hparams_; }
  const GgufFile& gguf() const { return *gguf_; }
  int32_t layer_begin() const { return layer_begin_; }
  int32_t layer_end() const { return layer_end_; }
  bool has_embedding() const { return has_embedding_; }
  bool has_head() const { return has_head_; }

  // Layer `i` in [layer_begin, layer_end).
  const LayerWeights& layer(int32_t i) const { return layers_[i - layer_begin_]; }
  const WeightView& token_embedding() const { return token_embd_; }  // [n_vocab, dim]
  const float* output_norm() const { return output_norm_; }          // [dim]
  const WeightView& output() const { return output_; }               // [n_vocab, dim]
  // The output head is token_embd itself (no output.weight): one copy in memory.
  bool tied_head() const { return tied_head_; }
  // Llama 3 rope scaling factors ([head_dim / 2]), or nullptr.
  const float* rope_freqs() const { return rope_freqs_; }

  // A stable identity of the model (name, shapes, tensor names, vocabulary), independent
  // of the storage types, so that edge and worker can check they hold the same model.
  const std::string& identity() const { return identity_; }

 private:
  LlamaModel() = default;
  std::unique_ptr<GgufFile> gguf_;
  LlamaHparams hparams_;
  int32_t layer_begin_ = 0;
  int32_t layer_end_ = 0;
  bool has_embedding_ = false;
  bool has_head_ = false;
  std::vector<LayerWeights> layers_;
  WeightView token_embd_;
  const float* output_norm_ = nullptr;
  WeightView output_;
  bool tied_head_ = false;
  const float* rope_freqs_ = nullptr;
  std::string identity_;
};

}  // namespace tandem
