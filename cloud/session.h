// One edge session's state on the worker: the layers [K, N) with their KV cache, the
// sampling parameters, and the cached position. Steps of a session run in order (a
// session mutex); the compute of a step runs in the scheduler's batches, with the
// steps of other sessions.
// The worker's session table does the bookkeeping (attachment, idle time, budget).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cloud/messages.h"
#include "cloud/step_scheduler.h"
#include "common/model/layer_runner.h"
#include "common/model/llama_model.h"

namespace tandem::cloud {

// Limits a chunk must respect (from WorkerLimits).
struct ChunkLimits {
  int32_t max_positions = 0;
  int64_t max_bytes = 0;
  int32_t max_draft_tokens = 0;
};

class Session {
 public:
  // `runner` covers [split_layer, N) of `model`, which must have its head loaded.
  // `principal`: who opened it; its prompt work shares batches fairly with other
  // principals' (step_scheduler.h).
  Session(std::string id, std::string principal, const LlamaModel& model,
          std::unique_ptr<LayerRunner> runner, SamplingParams sampling, int32_t top_logprobs,
          absl::Duration token_deadline = absl::InfiniteDuration());

  const std::string& id() const { return id_; }
  int32_t split_layer() const { return split_layer_; }
  int32_t max_context() const { return max_context_; }
  int64_t kv_cache_bytes() const { return kv_cache_bytes_; }

  // Runs one chunk: validate (sizes, checksum, position), decode, run the layers, and if
  // asked sample the next token. With draft tokens (speculative decoding), samples after
  // each draft position too, keeps the longest prefix of drafts equal to what it sampled,
  // drops the positions after it and answers the token that follows (accepted_drafts
  // says how many). `still_attached` is checked once the session's earlier
  // steps are done; its error is returned as is. Codes: ResourceExhausted (over a limit),
  // DataLoss (checksum), FailedPrecondition (not at the cached position), OutOfRange
  // (past max_context), InvalidArgument (payload size or values). A failed step leaves
  // the session as it was.
  absl::StatusOr<StepReply> Step(const ChunkRequest& chunk, const ChunkLimits& limits,
                                 StepScheduler& scheduler,
                                 absl::FunctionRef<absl::Status()> still_attached);

  // A resuming stream's view: keeps min(keep, cached) positions, takes the new stream's
  // sampling parameters, and returns the positions kept. Waits for a running step.
  int32_t Resume(int32_t keep, const SamplingParams& sampling, int32_t top_logprobs,
                 absl::Duration token_deadline = absl::InfiniteDuration());

  // Drops positions >= position: InvalidArgument if negative, FailedPrecondition if
  // beyond the cached positions.
  absl::Status Truncate(int32_t position, absl::FunctionRef<absl::Status()> still_attached);

  int32_t cached_positions() const;

 private:
  absl::Status ValidateChunk(const ChunkRequest& chunk, const ChunkLimits& limits) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ValidateDrafts(const ChunkRequest& chunk, const ChunkLimits& limits) const;

  const std::string id_;
  const std::string principal_;
  const LlamaModel& model_;
  const int32_t split_layer_;
  const int32_t max_context_;
  const int64_t kv_cache_bytes_;

  mutable absl::Mutex mu_;  // held for a whole step: a session's steps run in order
  std::unique_ptr<LayerRunner> runner_ ABSL_GUARDED_BY(mu_);
  Sampler sampler_ ABSL_GUARDED_BY(mu_);  // built once, keyed by position
  int32_t top_logprobs_ ABSL_GUARDED_BY(mu_);
  absl::Duration token_deadline_ ABSL_GUARDED_BY(mu_);
  // [1 + draft tokens, n_vocab]: after the chunk's last positions.
  std::vector<float> logits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::cloud
