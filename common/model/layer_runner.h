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

class LayerRunner;

// One sequence's part of a batched forward pass: n positions starting at pos (the
// runner's cached count, or less to rewind) with hidden states [n, dim], updated in place.
struct SequenceChunk {
  LayerRunner* runner;
  absl::Span<float> hidden;
  int32_t n;
  int32_t pos;
};

// Per-pass buffers, grown on demand and reused: [rows, dim] x2, [rows, q_dim] x2,
// [rows, kv_dim] x2,
// [rows, ffn_dim] x2, and the batch's residual stream [rows, dim].
struct ForwardScratch {
  std::vector<float> x, xb, q, k, v, att, gate, up;
  void Ensure(const LlamaHparams& hp, int64_t rows);
};

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

  // Runs the chunks of several sequences (runners over the same model, each with its own
  // KV cache and layer range, e.g. sessions split at different K) in one pass: each
  // layer's matrix products run once over the rows of every chunk whose range contains
  // the layer (a sequence joins at its first layer), attention per sequence. Results are
  // bit-identical to running each chunk alone with Forward (the kernels are batch
  // invariant). Every chunk is validated before any runs; on error nothing has changed.
  static absl::Status ForwardBatch(absl::Span<const SequenceChunk> chunks, ForwardScratch& scratch,
                                   ThreadPool& pool);

  // Forgets positions >= pos (e.g. to rewind after a rejected step).
  void Truncate(int32_t pos);
  int32_t num_cached() const { return cache_.num_positions(); }
  int32_t max_context() const { return cache_.max_positions(); }
  int32_t begin() const { return begin_; }
  const LlamaModel& model() const { return model_; }
  int32_t end() const { return end_; }
  size_t kv_cache_bytes() const { return cache_.bytes(); }

 private:
  LayerRunner(const LlamaModel& model, int32_t begin, int32_t end, int32_t max_context);
  absl::Status Validate(const SequenceChunk& chunk) const;

  const LlamaModel& model_;
  int32_t begin_, end_;
  KvCache cache_;
  ForwardScratch scratch_;  // for Forward
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
