// The edge half of one split session: layers [0, K) with their KV cache, and the stream to
// the worker holding layers [K, N). The worker caches what the edge sent, so the two stay
// in step position by position; Advance sends whatever positions of the context the worker
// lacks and asks for the next token. That one operation covers the prompt, each decode
// step, the catch-up after a fallback period (only the positions the worker missed) and a
// full replay on a worker that lost the session (from position 0).
//
// The edge's own KV cache stays valid whatever happens to the link: after a reconnect the
// worker says how many positions it still holds (Ready.cached_positions), the edge drops
// its cache beyond that and recomputes those positions from the token ids. Nothing but
// token ids needs to be kept.
//
// Not thread-safe; a stream may be opened on another thread (Hello), then attached.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/codec/codec_kind.h"
#include "common/model/layer_runner.h"
#include "common/sampler/sampler.h"
#include "common/util/clock.h"
#include "common/util/thread_pool.h"
#include "edge/cloud_link.h"
#include "edge/edge_model.h"

namespace tandem::edge {

class CloudSession {
 public:
  // `model`, `pool` and `clock` must outlive the session. The KV cache holds max_context
  // positions.
  static absl::StatusOr<std::unique_ptr<CloudSession>> Create(const EdgeModel& model,
                                                              ThreadPool& pool, const Clock& clock,
                                                              CodecKind codec, int32_t max_context,
                                                              int32_t chunk_positions);

  // Forgets the stream and the cache (a new generation).
  void Reset();

  // The Hello to open or resume `session_id` for a context of `context_size` positions:
  // resume_position is what the edge can vouch the worker holds, at most context_size - 1
  // so that the last position is always sent again to have the next token sampled.
  // `top_logprobs` alternatives are asked for with each token (0: no logprobs).
  SessionHello Hello(const std::string& session_id, const SamplingParams& sampling,
                     int32_t context_size, int32_t top_logprobs = 0) const;

  // Adopts `stream`, opened with `hello` (from Hello()). Checks the Ready (no more cached
  // positions than asked for, the codec accepted) and drops the edge's cache beyond what
  // the worker holds. Returns the worker's cached positions (0: a fresh session, so the
  // whole context is replayed). Internal / FailedPrecondition for a worker that breaks
  // the contract, cannot take the codec or grants fewer top logprobs than asked.
  absl::StatusOr<int32_t> Attach(std::unique_ptr<CloudStream> stream, const SessionHello& hello);

  // Sends positions [positions(), context.size()) of `context` (embedding + layers [0, K),
  // encoded, in chunks the worker accepts), asking for the token after the last one, and
  // waits for it. Each chunk is handed over within `per_chunk`, and the token must come
  // within `per_chunk` times the number of chunks after the last one. On error the
  // stream is broken: Drop() it (the worker keeps the session for its idle timeout).
  // The token comes with the logprobs the Hello asked for (checked: as many alternatives
  // as asked, ids in the vocabulary, most likely first).
  //
  // Speculative decoding: `drafts` (at most draft_capacity()) are the draft model's guesses
  // for the tokens after `context`. They go in the last chunk for the worker to verify;
  // the token's accepted_drafts says how many it kept (the context grows by those, then
  // the token), and the positions of the rejected ones are dropped here as on the worker.
  // `while_waiting` runs once everything is sent, before waiting for the token (work that
  // the round trip and the worker's compute can hide).
  absl::StatusOr<SampledToken> Advance(
      absl::Span<const int32_t> context, absl::Duration per_chunk,
      absl::Span<const int32_t> drafts = {}, absl::FunctionRef<void()> while_waiting = [] {});
  // Draft tokens the next Advance may carry: 0 without a stream, unless the worker
  // verifies drafts and the edge has sent all but the context's last position.
  int32_t draft_capacity(int32_t context_size) const;

  bool connected() const { return stream_ != nullptr; }
  // Drops the stream without ending the session (cancelled), e.g. after a failure. Returns
  // the bytes it carried.
  LinkBytes Drop();
  // Ends the session for good and drops the stream. Returns the bytes it carried.
  LinkBytes Close(absl::Time deadline, absl::Status* status);
  // Bytes on the current stream so far (zero without one).
  LinkBytes bytes() const;

  // Positions run through [0, K) and sent on the current or an earlier stream.
  int32_t positions() const { return runner_->num_cached(); }
  // Positions a generation may reach: the edge's own limit, or what the attached worker
  // granted if less (Ready.max_context), so that the generation ends with "length" there
  // instead of an OUT_OF_RANGE that looks like a failed worker.
  int32_t max_context() const { return granted_context_; }
  CodecKind codec() const { return codec_; }
  // The per-token latency target sent in every Hello (InfiniteDuration: none).
  void set_token_deadline(absl::Duration d) { token_deadline_ = d; }

 private:
  CloudSession(const EdgeModel& model, ThreadPool& pool, const Clock& clock, CodecKind codec,
               int32_t chunk_positions, std::unique_ptr<LayerRunner> runner)
      : model_(model),
        pool_(pool),
        clock_(clock),
        codec_(codec),
        chunk_positions_(chunk_positions),
        runner_(std::move(runner)),
        granted_context_(runner_->max_context()) {}

  const EdgeModel& model_;
  ThreadPool& pool_;
  const Clock& clock_;
  const CodecKind codec_;
  const int32_t chunk_positions_;        // upper bound; the worker's limits may lower it
  std::unique_ptr<LayerRunner> runner_;  // layers [0, K) and their KV cache
  std::unique_ptr<CloudStream> stream_;
  int32_t granted_context_ = 0;         // see max_context()
  int32_t stream_chunk_positions_ = 1;  // for the current stream
  int32_t stream_top_logprobs_ = 0;     // alternatives the current stream's Hello asked for
  int32_t stream_max_drafts_ = 0;       // Ready.max_draft_tokens of the current stream
  std::vector<int32_t> chunk_tokens_;   // the tokens of the chunk being sent
  std::vector<float> hidden_;           // [chunk, dim]
  absl::Duration token_deadline_ = absl::InfiniteDuration();
};

}  // namespace tandem::edge
