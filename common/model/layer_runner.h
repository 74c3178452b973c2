// The llama forward pass over a contiguous range of layers [begin, end), with that
// range's own KV cache. Running [0, K) then [K, N) on the same hidden states gives
// bit-identical results to running [0, N): each layer does the same arithmetic on the
// same inputs wherever the cut is.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/model/kv_cache.h"
#include "common/model/llama_model.h"
#include "common/util/thread_pool.h"

namespace tandem {

class LayerRunner {
 public:
  // `max_context` sizes the KV cache (positions 0..max_context-1); it must be in
  // [1, hparams.context_length]. The model must have layers [begin, end) loaded.
  static absl::StatusOr<std::unique_ptr<LayerRunner>> Create(const LlamaModel& model, int32_t begin,
                                                             int32_t end, int32_t max_context);

  // Runs the layers on hidden[n, dim] (in place) for positions [pos, pos + n).
  // pos must equal the number of positions already cached (or less, which first drops
  // the cached positions >= pos); pos + n <= max_context (OutOfRange otherwise).
  absl::Status Forward(absl::Span<float> hidden, int32_t n, int32_t pos, ThreadPool& pool);

  // Forgets positions >= pos (e.g. to rewind after a rejected step).
  void Truncate(int32_t pos);
  int32_t num_cached() const { return cache_.num_positions(); }
  int32_t max_context() const { return cache_.max_positions(); }
  int32_t begin() const { return begin_; }
  int32_t end() const { return end_; }
  size_t kv_cache_bytes() const { return cache_.bytes(); }

 private:
  LayerRunner(const LlamaModel& model, int32_t begin, int32_t end, int32_t max_context);
  void EnsureScratch(int32_t n);

  const LlamaModel& model_;
  int32_t begin_, end_;
  KvCache cache_;
  // Per-call scratch, grown on demand: [n, dim], [n, q_dim] x2, [n, kv_dim] x2, [n, ffn_dim] x2.
  std::vector<float> xb_, q_, k_, v_, att_, gate_, up_;
};

// hidden[n, dim] = embedding rows of tokens (dequantized). InvalidArgument for an id
// outside [0, n_vocab).
absl::Status Embed(const LlamaModel& model, absl::Span<const int32_t> tokens,
                   absl::Span<float> hidden);

// logits[n, n_vocab] = output(rmsnorm(hidden[n, dim]) * output_norm) for the n rows of
// hidden. Does not modify hidden. FailedPrecondition if the head is not loaded.
absl::Status Head(const LlamaModel& model, absl::Span<const float> hidden, absl::Span<float> logits,
                  ThreadPool& pool);

}  // namespace tandem
