#include "common/model/kv_cache.h"

namespace tandem {

KvCache::KvCache(int32_t n_layers, int32_t max_positions, int32_t kv_dim)
    : max_positions_(max_positions),
      kv_dim_(kv_dim),
      k_(static_cast<size_t>(n_layers) * max_positions * kv_dim),
      v_(static_cast<size_t>(n_layers) * max_positions * kv_dim) {}

}  // namespace tandem
