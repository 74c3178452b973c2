// What part of a model a GGUF file holds. `tandem split` writes shards: an edge shard
// (tokenizer, token embedding, layers [0, K)) and a cloud shard (layers [K, N), output norm
// and head, plus the embedding if the head is tied to it). Shards keep the source model's
// hyperparameters (llama.block_count stays N) and tensor names (layer i is blk.i.* in
// either kind of file), so the loader reads them like a whole model; the keys below say
// which layers exist, and tandem.model_identity names the source model.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/gguf/gguf_file.h"

namespace tandem {

inline constexpr char kShardRoleKey[] = "tandem.shard.role";  // "edge" | "cloud"
inline constexpr char kShardLayerBeginKey[] = "tandem.shard.layer_begin";
inline constexpr char kShardLayerEndKey[] = "tandem.shard.layer_end";
inline constexpr char kShardLayersTotalKey[] = "tandem.shard.n_layers_total";

inline constexpr char kEdgeShardRole[] = "edge";
inline constexpr char kCloudShardRole[] = "cloud";

struct ShardInfo {
  bool is_shard = false;
  std::string role;         // kEdgeShardRole or kCloudShardRole; empty for a whole model
  int32_t layer_begin = 0;  // the file holds blk.i.* for i in [layer_begin, layer_end)
  int32_t layer_end = 0;
  int32_t n_layers = 0;        // of the whole model
  bool has_embedding = false;  // token_embd.weight
  bool has_head = false;       // output_norm.weight (+ output.weight or the tied embedding)

  // E.g. "edge shard: embedding + layers [0, 2) of 5".
  std::string Describe() const;
};

// A whole model holds [0, n_layers), the embedding and the head (missing tensors are the
// loader's to report). For a shard: InvalidArgument if the shard keys are incomplete or
// inconsistent with `n_layers` (llama.block_count) or the file lacks the source identity.
absl::StatusOr<ShardInfo> ReadShardInfo(const GgufFile& file, int32_t n_layers);

}  // namespace tandem
