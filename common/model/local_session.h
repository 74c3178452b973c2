// A whole model run locally: tokens in, logits out, with one KV cache. This is what
// `tandem generate` runs, what perplexity scores, and the edge daemon's fallback.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/model/layer_runner.h"
#include "common/model/llama_model.h"
#include "common/util/thread_pool.h"

namespace tandem {

class LocalSession {
 public:
  // Prompts are processed in batches of at most `batch_size` positions.
  static absl::StatusOr<std::unique_ptr<LocalSession>> Create(const LlamaModel& model,
                                                              int32_t max_context, ThreadPool& pool,
                                                              int32_t batch_size = 256);

  // Runs `tokens` at positions [position(), position() + size) and returns the logits
  // after the last one ([n_vocab], valid until the next call). With `all_logits`, fills
  // it with [size, n_vocab] logits of every position (for perplexity).
  absl::StatusOr<absl::Span<const float>> Feed(absl::Span<const int32_t> tokens,
                                               std::vector<float>* all_logits = nullptr);

  // Forgets positions >= pos.
  void Rewind(int32_t pos) { runner_->Truncate(pos); }
  int32_t position() const { return runner_->num_cached(); }
  int32_t max_context() const { return runner_->max_context(); }
  const LlamaModel& model() const { return model_; }
  size_t kv_cache_bytes() const { return runner_->kv_cache_bytes(); }

 private:
  LocalSession(const LlamaModel& model, std::unique_ptr<LayerRunner> runner, ThreadPool& pool,
               int32_t batch_size)
      : model_(model), runner_(std::move(runner)), pool_(pool), batch_size_(batch_size) {}

  const LlamaModel& model_;
  std::unique_ptr<LayerRunner> runner_;
  ThreadPool& pool_;
  int32_t batch_size_;
  std::vector<float> hidden_;  // [batch, dim]
  std::vector<float> logits_;  // [n_vocab] or [batch, n_vocab]
};

}  // namespace tandem
