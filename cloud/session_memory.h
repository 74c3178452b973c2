// What one session costs in memory, for admission against the worker's budget: the KV
// cache is the big part for long contexts, but every session also keeps per-layer-runner
// scratch sized for the largest chunk (q, k, v, attention output, FFN gate/up rows), the
// logits vector and, during a step, the decoded chunk and its payload. With 512-position
// chunks a TinyLlama session holds ~37 MB of scratch on top of its KV cache.
#pragma once

#include <cstdint>

#include "common/model/llama_model.h"

namespace tandem::cloud {

struct SessionMemory {
  int64_t kv_cache_bytes = 0;  // keys and values, f32, for layers [K, N)
  int64_t scratch_bytes = 0;   // runner scratch + hidden rows + payload + logits
  int64_t total() const { return kv_cache_bytes + scratch_bytes; }
};

// The bytes a session of layers [split_layer, N) holding `max_context` positions and
// taking chunks of up to `max_chunk_positions` positions / `max_chunk_bytes` payload bytes
// with up to `max_draft_tokens` draft tokens to verify allocates at most.
SessionMemory SessionMemoryBytes(const LlamaHparams& hp, int32_t split_layer, int32_t max_context,
                                 int32_t max_chunk_positions, int64_t max_chunk_bytes,
                                 int32_t max_draft_tokens);

}  // namespace tandem::cloud
