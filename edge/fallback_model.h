// The on-device fallback: a complete small model (embedding, every layer, head) that
// continues a generation when the cloud is unreachable. It must share the main model's
// tokenizer, since the context is kept as token ids and a token means the same piece on
// both; a model with another vocabulary is refused at start-up.
//
// It samples with the position-keyed Sampler (common/sampler/sampler.h), like the worker,
// so that the draw for a position is the same whichever side makes it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/model/llama_model.h"
#include "common/model/local_session.h"
#include "common/sampler/sampler.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/thread_pool.h"
#include "edge/cloud_link.h"

namespace tandem::edge {

// OK if both tokenizers map every id to the same piece, type and score and agree on the
// special ids; FailedPrecondition naming the first difference otherwise.
absl::Status CheckSameVocabulary(const Tokenizer& main, const Tokenizer& fallback);

// Read-only after loading; shared by all generations.
class FallbackModel {
 public:
  // Loads the whole model at `path` and checks its vocabulary against `main`.
  // FailedPrecondition if it is not a complete model or its vocabulary differs.
  static absl::StatusOr<std::unique_ptr<FallbackModel>> Load(const std::string& path,
                                                             const Tokenizer& main);

  const LlamaModel& model() const { return *model_; }
  // general.name, else the file name without extension.
  const std::string& name() const { return name_; }
  int32_t context_length() const { return model_->hparams().context_length; }

 private:
  FallbackModel(std::unique_ptr<LlamaModel> model, std::string name)
      : model_(std::move(model)), name_(std::move(name)) {}

  std::unique_ptr<LlamaModel> model_;
  std::string name_;
};

// One generation's use of the fallback model: its own KV cache, filled lazily. Between
// fallback periods it keeps what it has computed, so coming back only costs the positions
// the cloud generated in the meantime.
class FallbackSession {
 public:
  // `model` and `pool` must outlive the session.
  static absl::StatusOr<std::unique_ptr<FallbackSession>> Create(const FallbackModel& model,
                                                                 int32_t max_context,
                                                                 ThreadPool& pool);

  // The token after `context` (prompt + generated so far): runs the positions of `context`
  // this session has not seen yet, then samples at the last position. With logprobs asked
  // for (Reset), they come with it, computed as the worker does (LogprobOf on the logits).
  absl::StatusOr<SampledToken> Next(absl::Span<const int32_t> context);

  // Speculative decoding (this model drafts for the split model). A draft need not be
  // exact (the worker checks every token), only cheap: when the session lags more than
  // `max_catch_up` positions behind `context` (after plain steps, or past its own context
  // length), it restarts on the last `max_catch_up` tokens only, as a window (RoPE sees the
  // same relative positions), instead of running everything it missed.
  // Runs the positions of `context` but its last that the session lacks, with room for
  // `count` drafts after them. Returns the positions run.
  absl::StatusOr<int32_t> CatchUp(absl::Span<const int32_t> context, int32_t max_catch_up,
                                  int32_t count);
  // `count` tokens that would follow `context` (after CatchUp), each sampled as Next would
  // sample it (the same position-keyed draw the worker makes, so a draft equals the
  // worker's token whenever both models' distributions put that draw on the same token).
  // The drafts stay in the cache: KeepAtMost once the worker said how many were right.
  absl::StatusOr<std::vector<int32_t>> Draft(absl::Span<const int32_t> context, int32_t count);
  // Drops cached positions >= n (their tokens are no longer the context's).
  void KeepAtMost(int32_t n);
  // Runs one token and forgets it, so that the weights are paged in before the first
  // generation needs them (the first draft round would otherwise pay for it).
  absl::Status WarmUp();

  // Forgets everything: a new generation, sampled with `sampling`; `top_logprobs` >= 0
  // reports each token's logprob and that many alternatives, < 0 no logprobs.
  void Reset(const SamplingParams& sampling, int32_t top_logprobs = -1) {
    session_->Rewind(0);
    window_start_ = 0;
    sampler_ = Sampler(sampling);
    top_logprobs_ = top_logprobs;
  }
  // Positions in the KV cache.
  int32_t positions() const { return session_->position(); }

 private:
  explicit FallbackSession(std::unique_ptr<LocalSession> session) : session_(std::move(session)) {}

  // The context position the cache starts at: 0, or a drafting window's first (the cache's
  // position p holds the context's window_start_ + p).
  int32_t context_end() const { return window_start_ + session_->position(); }

  std::unique_ptr<LocalSession> session_;
  int32_t window_start_ = 0;
  Sampler sampler_{SamplingParams{}};
  int32_t top_logprobs_ = -1;
};

}  // namespace tandem::edge
