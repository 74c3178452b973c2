#include "cloud/session.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/codec/crc32c.h"
#include "common/codec/hidden_codec.h"
#include "common/util/status_macros.h"

namespace tandem::cloud {

Session::Session(std::string id, std::string principal, const LlamaModel& model,
                 std::unique_ptr<LayerRunner> runner, SamplingParams sampling, int32_t top_logprobs,
                 absl::Duration token_deadline)
    : id_(std::move(id)),
      principal_(std::move(principal)),
      model_(model),
      split_layer_(runner->begin()),
      max_context_(runner->max_context()),
      kv_cache_bytes_(static_cast<int64_t>(runner->kv_cache_bytes())),
      runner_(std::move(runner)),
      sampler_(sampling),
      top_logprobs_(top_logprobs),
      token_deadline_(token_deadline) {}

int32_t Session::cached_positions() const {
  absl::MutexLock lock(&mu_);
  return runner_->num_cached();
}

absl::Status Session::ValidateChunk(const ChunkRequest& chunk, const ChunkLimits& limits) const {
  // Cheapest checks first; nothing here depends on the payload's values.
  if (chunk.num_positions < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a chunk needs at least one position, got %d", chunk.num_positions));
  }
  if (chunk.num_positions > limits.max_positions) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("chunk of %d positions exceeds the limit of %d per chunk",
                        chunk.num_positions, limits.max_positions));
  }
  if (static_cast<int64_t>(chunk.payload.size()) > limits.max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("chunk payload of %d bytes exceeds the limit of %d bytes",
                        chunk.payload.size(), limits.max_bytes));
  }
  if (Crc32c(chunk.payload) != chunk.payload_crc32c) {
    return absl::DataLossError(
        absl::StrFormat("payload checksum mismatch (CRC-32C %08x, message says %08x)",
                        Crc32c(chunk.payload), chunk.payload_crc32c));
  }
  const int32_t cached = runner_->num_cached();
  if (chunk.start_position != cached) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "chunk starts at position %d but session %s has %d positions cached; chunks must be "
        "contiguous (resend from %d, or Truncate to rewind)",
        chunk.start_position, id_, cached, cached));
  }
  if (static_cast<int64_t>(chunk.start_position) + chunk.num_positions > max_context_) {
    return absl::OutOfRangeError(absl::StrFormat(
        "positions [%d, %d) exceed the session's context of %d positions", chunk.start_position,
        chunk.start_position + chunk.num_positions, max_context_));
  }
  RETURN_IF_ERROR(ValidateCodecDim(chunk.codec, model_.hparams().dim));
  return ValidateDrafts(chunk, limits);
}

absl::Status Session::ValidateDrafts(const ChunkRequest& chunk, const ChunkLimits& limits) const {
  const int32_t drafts = static_cast<int32_t>(chunk.draft_tokens.size());
  if (drafts == 0) return absl::OkStatus();
  if (drafts > limits.max_draft_tokens) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a chunk carries %d draft tokens; this worker verifies at most %d "
                        "(Ready.max_draft_tokens)",
                        drafts, limits.max_draft_tokens));
  }
  if (!chunk.sample) {
    return absl::InvalidArgumentError("draft tokens need a chunk with `sample` set");
  }
  if (drafts >= chunk.num_positions) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d draft tokens need a chunk of more than %d positions, got %d", drafts,
                        drafts, chunk.num_positions));
  }
  const int32_t n_vocab = model_.hparams().n_vocab;
  for (int32_t id : chunk.draft_tokens) {
    if (id < 0 || id >= n_vocab) {
      return absl::InvalidArgumentError(
          absl::StrFormat("draft token id %d is outside the vocabulary of %d", id, n_vocab));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<StepReply> Session::Step(const ChunkRequest& chunk, const ChunkLimits& limits,
                                        StepScheduler& scheduler,
                                        absl::FunctionRef<absl::Status()> still_attached) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(still_attached());
  RETURN_IF_ERROR(ValidateChunk(chunk, limits));
  const int32_t n = chunk.num_positions;
  const int32_t dim = model_.hparams().dim;

  // Decoding validates the exact payload size and rejects non-finite values. It runs on
  // this stream's thread, outside the scheduler, in parallel with other sessions' steps.
  std::vector<float> hidden(static_cast<size_t>(n) * dim);  // [n, dim]
  RETURN_IF_ERROR(DecodeHidden(chunk.codec, chunk.payload, n, dim, absl::MakeSpan(hidden)));

  // Layers [K, N) in the scheduler's next batches, with other sessions' steps; the final
  // norm + head for the last 1 + drafts positions only if a token is due. A failed step
  // leaves the cache as it was.
  const int32_t drafts = static_cast<int32_t>(chunk.draft_tokens.size());
  const size_t n_vocab = model_.hparams().n_vocab;
  logits_.resize(chunk.sample ? (1 + drafts) * n_vocab : 0);
  ASSIGN_OR_RETURN(const StepTiming timing, scheduler.Submit({.runner = runner_.get(),
                                                              .hidden = absl::MakeSpan(hidden),
                                                              .n = n,
                                                              .pos = chunk.start_position,
                                                              .logits = absl::MakeSpan(logits_),
                                                              .token_deadline = token_deadline_,
                                                              .principal = principal_}));

  StepReply reply{.timing = timing};
  if (chunk.sample) {
    // Sample after each draft position in turn, as one-position steps would have; stop at
    // the first draft that differs from what was sampled (or after the last draft).
    const int32_t first = chunk.start_position + n - 1 - drafts;  // the edge's last token
    SampledToken token;
    absl::Span<const float> logits;
    for (int32_t i = 0; i <= drafts; ++i) {
      logits = absl::MakeConstSpan(logits_).subspan(i * n_vocab, n_vocab);
      token.position = first + i;
      token.token_id = sampler_.Sample(logits, token.position);
      if (i == drafts || token.token_id != chunk.draft_tokens[i]) break;
      ++token.accepted_drafts;
    }
    // The positions after the last accepted draft hold rejected tokens.
    runner_->Truncate(token.position + 1);
    // Logprobs only when asked: a pass over the whole vocabulary per token.
    if (top_logprobs_ > 0) {
      token.logprob = LogprobOf(logits, token.token_id, top_logprobs_, &token.top_logprobs);
    }
    reply.token = std::move(token);
  }
  reply.cached_positions = runner_->num_cached();
  return reply;
}

int32_t Session::Resume(int32_t keep, const SamplingParams& sampling, int32_t top_logprobs,
                        absl::Duration token_deadline) {
  absl::MutexLock lock(&mu_);
  token_deadline_ = token_deadline;
  runner_->Truncate(std::max(keep, 0));
  sampler_ = Sampler(sampling);
  top_logprobs_ = top_logprobs;
  return runner_->num_cached();
}

absl::Status Session::Truncate(int32_t position, absl::FunctionRef<absl::Status()> still_attached) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(still_attached());
  const int32_t cached = runner_->num_cached();
  if (position < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("truncate position %d is negative", position));
  }
  if (position > cached) {
    return absl::FailedPreconditionError(
        absl::StrFormat("cannot truncate session %s to position %d: it has %d positions cached",
                        id_, position, cached));
  }
  runner_->Truncate(position);
  return absl::OkStatus();
}

}  // namespace tandem::cloud
