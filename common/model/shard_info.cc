#include "common/model/shard_info.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/model/llama_model.h"
#include "common/util/status_macros.h"

namespace tandem {

std::string ShardInfo::Describe() const {
  std::vector<std::string> parts;
  if (has_embedding) parts.push_back("embedding");
  parts.push_back(absl::StrFormat("layers [%d, %d) of %d", layer_begin, layer_end, n_layers));
  if (has_head) parts.push_back("head");
  const std::string what = absl::StrJoin(parts, " + ");
  return is_shard ? absl::StrCat(role, " shard: ", what) : absl::StrCat("whole model: ", what);
}

absl::StatusOr<ShardInfo> ReadShardInfo(const GgufFile& f, int32_t n_layers) {
  ShardInfo info{.layer_begin = 0, .layer_end = n_layers, .n_layers = n_layers};
  if (f.Find(kShardRoleKey) == nullptr && f.Find(kShardLayerBeginKey) == nullptr &&
      f.Find(kShardLayerEndKey) == nullptr) {
    info.has_embedding = info.has_head = true;
    return info;
  }
  info.is_shard = true;
  ASSIGN_OR_RETURN(info.role, f.GetString(kShardRoleKey));
  ASSIGN_OR_RETURN(uint64_t begin, f.GetUint(kShardLayerBeginKey));
  ASSIGN_OR_RETURN(uint64_t end, f.GetUint(kShardLayerEndKey));
  ASSIGN_OR_RETURN(uint64_t total, f.GetUint(kShardLayersTotalKey));
  if (info.role != kEdgeShardRole && info.role != kCloudShardRole) {
    return absl::InvalidArgumentError(
        absl::StrCat(kShardRoleKey, " is \"", info.role, "\", expected \"edge\" or \"cloud\""));
  }
  if (total != static_cast<uint64_t>(n_layers) || begin >= end || end > total) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "inconsistent shard metadata: layers [%d, %d) of %d, but llama.block_count is %d", begin,
        end, total, n_layers));
  }
  if (f.Find(kIdentityKey) == nullptr) {
    // Without it the shard's own (partial) tensor list would make up a new identity.
    return absl::InvalidArgumentError(
        absl::StrCat("shard without ", kIdentityKey, " (the identity of its source model)"));
  }
  info.layer_begin = static_cast<int32_t>(begin);
  info.layer_end = static_cast<int32_t>(end);
  info.has_embedding = f.FindTensor("token_embd.weight") != nullptr;
  info.has_head = f.FindTensor("output_norm.weight") != nullptr;
  return info;
}

}  // namespace tandem
