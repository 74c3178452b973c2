#include "edge/cloud_session.h"

#include <algorithm>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "common/codec/hidden_codec.h"
#include "common/util/status_macros.h"

namespace tandem::edge {
namespace {

// A Token's logprobs as the contract says: `k` alternatives (none if not asked for), ids
// in the vocabulary, most likely first, none more likely than certain.
absl::Status CheckLogprobs(const SampledToken& token, int32_t k, int32_t n_vocab) {
  if (static_cast<int32_t>(token.top_logprobs.size()) != k) {
    return absl::InternalError(absl::StrFormat("the worker sent %d top logprobs, %d were asked for",
                                               token.top_logprobs.size(), k));
  }
  for (size_t i = 0; i < token.top_logprobs.size(); ++i) {
    const TokenLogprob& t = token.top_logprobs[i];
    if (t.token < 0 || t.token >= n_vocab || !(t.logprob <= 0) ||
        (i > 0 && t.logprob > token.top_logprobs[i - 1].logprob)) {
      return absl::InternalError(absl::StrFormat(
          "the worker sent a bad top logprob (token %d, %g) at rank %d", t.token, t.logprob, i));
    }
  }
  if (k > 0 && !(token.logprob <= 0)) {
    return absl::InternalError(absl::StrFormat("the worker sent logprob %g", token.logprob));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CloudSession>> CloudSession::Create(
    const EdgeModel& model, ThreadPool& pool, const Clock& clock, CodecKind codec,
    int32_t max_context, int32_t chunk_positions) {
  RETURN_IF_ERROR(ValidateCodecDim(codec, model.hparams().dim));
  if (chunk_positions < 1) {
    return absl::InvalidArgumentError("prompt chunks must hold at least one position");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<LayerRunner> runner,
                   LayerRunner::Create(model.model(), 0, model.split(), max_context));
  return std::unique_ptr<CloudSession>(
      new CloudSession(model, pool, clock, codec, chunk_positions, std::move(runner)));
}

void CloudSession::Reset() {
  stream_.reset();
  runner_->Truncate(0);
  granted_context_ = runner_->max_context();
}

SessionHello CloudSession::Hello(const std::string& session_id, const SamplingParams& sampling,
                                 int32_t context_size, int32_t top_logprobs) const {
  const LlamaHparams& hp = model_.hparams();
  return SessionHello{.session_id = session_id,
                      .model_id = model_.model().identity(),
                      .n_layers = hp.n_layers,
                      .split_layer = model_.split(),
                      .hidden_dim = hp.dim,
                      .codec = codec_,
                      .sampling = sampling,
                      .resume_position = std::clamp(context_size - 1, 0, positions()),
                      .max_context = runner_->max_context(),
                      .token_deadline = token_deadline_,
                      .top_logprobs = top_logprobs};
}

absl::StatusOr<int32_t> CloudSession::Attach(std::unique_ptr<CloudStream> stream,
                                             const SessionHello& hello) {
  stream_.reset();
  const SessionReady& ready = stream->ready();
  if (ready.cached_positions < 0 || ready.cached_positions > hello.resume_position) {
    return absl::InternalError(
        absl::StrFormat("the worker claims %d cached positions for a session resumed at %d",
                        ready.cached_positions, hello.resume_position));
  }
  if (hello.resume_position > positions()) {
    return absl::InternalError("a stream opened for positions the edge no longer has");
  }
  if (!ready.codecs.empty() &&
      std::find(ready.codecs.begin(), ready.codecs.end(), codec_) == ready.codecs.end()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the worker does not accept the %s codec", CodecKindName(codec_)));
  }
  if (hello.top_logprobs > ready.max_top_logprobs) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the worker sends at most %d top logprobs per token, %d were asked for",
                        ready.max_top_logprobs, hello.top_logprobs));
  }
  int64_t n = chunk_positions_;
  if (ready.max_chunk_positions > 0) n = std::min<int64_t>(n, ready.max_chunk_positions);
  if (ready.max_chunk_bytes > 0) {
    const int64_t row_bytes =
        static_cast<int64_t>(EncodedSize(codec_, /*n=*/1, model_.hparams().dim));
    n = std::min<int64_t>(n, ready.max_chunk_bytes / row_bytes);
  }
  stream_chunk_positions_ = static_cast<int32_t>(std::max<int64_t>(n, 1));
  granted_context_ = ready.max_context > 0 ? std::min(ready.max_context, runner_->max_context())
                                           : runner_->max_context();
  // Positions the worker no longer holds are recomputed from their tokens.
  runner_->Truncate(ready.cached_positions);
  stream_top_logprobs_ = hello.top_logprobs;
  stream_max_drafts_ = std::max(ready.max_draft_tokens, 0);
  stream_ = std::move(stream);
  return ready.cached_positions;
}

int32_t CloudSession::draft_capacity(int32_t context_size) const {
  if (stream_ == nullptr || positions() != context_size - 1) return 0;
  return std::min(stream_max_drafts_, stream_chunk_positions_ - 1);
}

absl::StatusOr<SampledToken> CloudSession::Advance(absl::Span<const int32_t> context,
                                                   absl::Duration per_chunk,
                                                   absl::Span<const int32_t> drafts,
                                                   absl::FunctionRef<void()> while_waiting) {
  if (stream_ == nullptr) return absl::FailedPreconditionError("no stream to the worker");
  const int32_t known = static_cast<int32_t>(context.size());
  const int32_t n_drafts = static_cast<int32_t>(drafts.size());
  if (positions() >= known) {
    return absl::InternalError(
        absl::StrFormat("nothing to send: the worker has %d positions of a %d-position context",
                        positions(), known));
  }
  if (n_drafts > draft_capacity(known)) {
    return absl::InternalError(absl::StrFormat("%d draft tokens, the stream takes %d here",
                                               n_drafts, draft_capacity(known)));
  }
  // Whatever fails, the cache keeps no position beyond the context: drafts the worker
  // did not confirm must never count as sent.
  absl::Cleanup drop_unconfirmed = [&] { runner_->Truncate(std::min(positions(), known)); };
  const int32_t total = known + n_drafts;
  const int32_t dim = model_.hparams().dim;
  int32_t chunks_sent = 0;
  while (positions() < total) {
    const int32_t position = positions();
    const int32_t n = std::min(stream_chunk_positions_, total - position);
    chunk_tokens_.clear();
    for (int32_t i = position; i < position + n; ++i) {
      chunk_tokens_.push_back(i < known ? context[i] : drafts[i - known]);
    }
    hidden_.resize(static_cast<size_t>(n) * dim);
    absl::Span<float> hidden(hidden_);  // [n, dim]
    RETURN_IF_ERROR(Embed(model_.model(), chunk_tokens_, hidden));
    RETURN_IF_ERROR(runner_->Forward(hidden, n, position, pool_));  // layers [0, K)
    const bool last = position + n == total;
    HiddenChunk message{
        .start_position = position, .num_positions = n, .codec = codec_, .sample = last};
    if (last) message.draft_tokens.assign(drafts.begin(), drafts.end());
    RETURN_IF_ERROR(EncodeHidden(codec_, hidden, n, dim, &message.payload));
    RETURN_IF_ERROR(stream_->Send(message, clock_.Now() + per_chunk));
    ++chunks_sent;
  }
  const absl::Time sent = clock_.Now();
  while_waiting();
  // The worker may still be running earlier chunks: allow a step per chunk.
  ASSIGN_OR_RETURN(SampledToken sampled, stream_->Receive(sent + per_chunk * chunks_sent));
  const int32_t accepted = sampled.accepted_drafts;
  if (accepted < 0 || accepted > n_drafts || sampled.position != known - 1 + accepted) {
    return absl::InternalError(absl::StrFormat(
        "the worker sampled after position %d having accepted %d of %d drafts, expected "
        "position %d",
        sampled.position, accepted, n_drafts, known - 1 + std::clamp(accepted, 0, n_drafts)));
  }
  const int32_t n_vocab = model_.hparams().n_vocab;
  if (sampled.token_id < 0 || sampled.token_id >= n_vocab) {
    return absl::InternalError(
        absl::StrFormat("the worker sent token id %d, outside the vocabulary", sampled.token_id));
  }
  RETURN_IF_ERROR(CheckLogprobs(sampled, std::min(stream_top_logprobs_, n_vocab), n_vocab));
  std::move(drop_unconfirmed).Cancel();
  runner_->Truncate(sampled.position + 1);  // the rejected drafts' positions, as the worker
  return sampled;
}

LinkBytes CloudSession::bytes() const {
  return stream_ == nullptr ? LinkBytes{} : stream_->bytes();
}

LinkBytes CloudSession::Drop() {
  const LinkBytes carried = bytes();
  stream_.reset();
  return carried;
}

LinkBytes CloudSession::Close(absl::Time deadline, absl::Status* status) {
  if (stream_ == nullptr) return {};
  absl::Status closed = stream_->Close(deadline);
  if (status != nullptr) *status = closed;
  return Drop();
}

}  // namespace tandem::edge
