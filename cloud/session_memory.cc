#include "cloud/session_memory.h"

namespace tandem::cloud {

SessionMemory SessionMemoryBytes(const LlamaHparams& hp, int32_t split_layer, int32_t max_context,
                                 int32_t max_chunk_positions, int64_t max_chunk_bytes,
                                 int32_t max_draft_tokens) {
  constexpr int64_t kF32 = sizeof(float);
  SessionMemory m;
  // KvCache: [layers, max_context, kv_dim] for keys and again for values.
  m.kv_cache_bytes = 2 * kF32 * (hp.n_layers - split_layer) * int64_t{max_context} * hp.kv_dim();
  const int64_t rows = max_chunk_positions;
  // LayerRunner::EnsureScratch: xb, q, att [rows, dim]; k, v [rows, kv_dim];
  // gate, up [rows, ffn_dim].
  const int64_t runner = kF32 * rows * (3 * int64_t{hp.dim} + 2 * hp.kv_dim() + 2 * hp.ffn_dim);
  // Session::Step: the decoded hidden rows [rows, dim] and the received payload; the
  // head's normed rows and the logits [1 + draft tokens, n_vocab] (speculative verification
  // samples after each draft position).
  const int64_t logit_rows = 1 + int64_t{max_draft_tokens};
  const int64_t step = kF32 * rows * hp.dim + max_chunk_bytes + kF32 * logit_rows * hp.dim;
  const int64_t logits = kF32 * logit_rows * hp.n_vocab;
  m.scratch_bytes = runner + step + logits;
  return m;
}

}  // namespace tandem::cloud
