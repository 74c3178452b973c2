// A split generation that survives the network: the app sees one contiguous stream of
// tokens whatever happens to the link.
//
//   cloud mode     each token comes from the worker (CloudSession::Advance) within a
//                  per-step deadline derived from the measured step latency (StepDeadline);
//   link failure   a step error or a missed deadline drops the stream (the worker keeps the
//                  session for its idle timeout) and, with a fallback model, the same
//                  position is produced on the device: the fallback prefills the context it
//                  has not seen (prompt + generated) and continues from exactly there, with
//                  the worker's position-keyed sampling (Sampler);
//   speculation    with a draft model (SpeculationOptions; the fallback by default), the
//                  edge guesses a few tokens, runs them through [0, K) with the last
//                  position and lets the worker verify them in the same round trip: a
//                  round yields every draft the worker would have produced itself plus its
//                  next token, so the tokens are exactly those of plain steps. How many to
//                  guess follows the measured acceptance, draft and round times
//                  (SpeculationPolicy), down to none;
//   reconnect      attempts run on a background thread (AsyncOpen) when the policy says
//                  (ReconnectPolicy: backoff with jitter, endpoints round robin), resuming
//                  the session with Hello.resume_position; at the next token boundary after
//                  one succeeded, the edge sends only the positions the worker lacks
//                  (all of them if the worker lost the session: a replay) and the token
//                  that comes back is the next one of the stream: cloud mode again.
//
// Without a fallback model the generation waits for a reconnect instead (attempts in the
// foreground, same policy) and fails after ReconnectOptions::give_up_after.
//
// Every token reports the mode that produced it; every switch is counted in the metrics and
// logged once at warning level.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/util/clock.h"
#include "common/util/thread_pool.h"
#include "edge/async_open.h"
#include "edge/cloud_link.h"
#include "edge/cloud_session.h"
#include "edge/edge_metrics.h"
#include "edge/edge_model.h"
#include "edge/fallback_model.h"
#include "edge/generation.h"
#include "edge/reconnect_policy.h"
#include "edge/speculation_policy.h"
#include "edge/step_deadline.h"

namespace tandem::edge {

struct ResilienceOptions {
  // The ceiling is SplitOptions::step_timeout (floor and chunk factor are taken from here).
  StepDeadlineOptions deadline;
  ReconnectOptions reconnect;
  SpeculationOptions speculation;
  // Where the warning line of each switch goes; stderr if empty.
  std::function<void(std::string_view)> warn;

  absl::Status Validate() const;
};

// Counts over the generator's lifetime (the metrics have the same, summed over slots).
struct ResilienceStats {
  int32_t to_fallback = 0;        // switches to the fallback model
  int32_t to_cloud = 0;           // switches back to the cloud
  int32_t resumed = 0;            // reconnects to a worker that still had the session
  int32_t replayed = 0;           // reconnects that had to send the whole context again
  int32_t failed_attempts = 0;    // reconnect attempts (open or catch-up) that failed
  int64_t catchup_positions = 0;  // positions sent when switching back
  int64_t catchup_bytes = 0;      // bytes sent when switching back (stream total delta)
  int64_t fallback_tokens = 0;    // tokens made by the fallback model
  int64_t cloud_tokens = 0;       // tokens made by the cloud
  int64_t rounds = 0;             // steady-state cloud round trips (plain or speculative)
  int64_t drafted = 0;            // draft tokens sent for verification
  int64_t accepted = 0;           // of them, accepted by the worker
};

class ResilientGenerator {
 public:
  // `endpoints` (at least one) with their links, `fallback` (may be null), `pool`, `clock`
  // and `metrics` must outlive the generator. FailedPrecondition if the fallback cannot
  // hold the generator's context.
  static absl::StatusOr<std::unique_ptr<ResilientGenerator>> Create(
      const EdgeModel& model, std::vector<CloudEndpoint> endpoints, const FallbackModel* fallback,
      ThreadPool& pool, const Clock& clock, EdgeMetrics& metrics, const SplitOptions& options,
      const ResilienceOptions& resilience);
  ~ResilientGenerator();

  // Runs one generation, streaming tokens to `sink`. Errors: InvalidArgument (bad
  // sampling parameters, empty prompt), OutOfRange (the prompt does not fit the context),
  // and, possibly after some tokens were streamed, the link's (Unavailable,
  // DeadlineExceeded, ...): those end the generation only without a fallback model (after
  // give_up_after, or at once if no endpoint can serve the session). Errors of the
  // fallback model itself always do.
  absl::StatusOr<GenerationResult> Generate(const GenerationRequest& request, TokenSink sink);

  // Token ids of the current (or last) generation's context: prompt + generated tokens.
  absl::Span<const int32_t> context() const { return context_; }
  int32_t max_context() const { return cloud_->max_context(); }
  const ResilienceStats& stats() const { return stats_; }
  const StepDeadline& step_deadline() const { return deadline_; }
  bool has_fallback() const { return fallback_ != nullptr; }
  bool speculates() const { return draft_ != nullptr; }
  const SpeculationPolicy& speculation() const { return speculation_; }

 private:
  ResilientGenerator(const EdgeModel& model, std::vector<CloudEndpoint> endpoints,
                     const FallbackModel* fallback, const Clock& clock, EdgeMetrics& metrics,
                     const SplitOptions& options, const ResilienceOptions& resilience,
                     std::unique_ptr<CloudSession> cloud,
                     std::unique_ptr<FallbackSession> fallback_session,
                     std::unique_ptr<FallbackSession> own_draft);

  struct Produced {
    int32_t token = 0;
    GenerationMode mode = GenerationMode::kCloud;
    TokenLogprobs logprobs;  // when the request asked for them
  };
  // `sampled` as the request wants it: its logprobs kept (alternatives cut to the number
  // asked for) if asked for.
  Produced Make(SampledToken sampled, GenerationMode mode) const;
  // Alternatives to ask the worker for: at least 1 whenever logprobs are wanted, since
  // the worker computes the token's own logprob only then.
  int32_t WorkerTopLogprobs() const;

  absl::StatusOr<GenerationResult> GenerateTokens(absl::Span<const int32_t> prompt,
                                                  const GenerationRequest& request, TokenSink sink);
  // Opens the session on the preferred worker, or starts on the fallback model if the
  // cloud was already unreachable. An error if the generation cannot start.
  absl::Status StartSession();
  // Closes (after success) or drops (after `result`'s error) the stream; settles metrics
  // and the pending reconnect attempt.
  void EndSession(const absl::Status& result);
  // The token at position context_.size(), from the cloud or the fallback.
  absl::StatusOr<Produced> NextToken();
  // One step on the worker: the positions it lacks (with draft tokens to verify, when
  // speculating), then the token; queues the accepted drafts and the token.
  absl::Status CloudStep();
  // Draft tokens for the next round (none if speculation is off or does not pay now).
  std::vector<int32_t> DraftTokens(absl::Duration* draft_time);
  // A draft model is in use and the request allows drafts (they carry no logprobs).
  bool CanDraft() const { return draft_ != nullptr && !top_logprobs_.has_value(); }
  // The link failed in cloud mode: drop the stream, tell the policy, switch to the
  // fallback if there is one. An error if the generation cannot go on.
  absl::Status OnLinkFailure(const absl::Status& status);
  // In fallback mode: adopts a finished background attempt and catches the worker up.
  // True if the worker's token was queued (cloud mode again), false to stay on the
  // fallback.
  bool TrySwitchBack();
  void MaybeStartAttempt();
  // Without a fallback: attempts in the foreground until a worker takes the session.
  absl::Status Reconnect();
  // A reconnect attempt on `endpoint` failed (open or catch-up).
  void OnAttemptFailed(int32_t endpoint, const absl::Status& status);
  // Adopts a stream a reconnect attempt opened; the next CloudStep catches the worker up
  // and, if it succeeds, counts the reconnect. An error (counted as a failed attempt) if
  // the Ready is unusable.
  absl::Status AttachReconnected(std::unique_ptr<CloudStream> stream, const SessionHello& hello,
                                 int32_t endpoint);
  void SwitchToFallback(const absl::Status& cause);
  // Attempts of earlier generations that finished are joined and dropped.
  void CollectRetired();
  void Warn(const std::string& line);

  const EdgeModel& model_;
  const std::vector<CloudEndpoint> endpoints_;
  const FallbackModel* const fallback_model_;
  const Clock& clock_;
  EdgeMetrics& metrics_;
  const SplitOptions options_;
  const ResilienceOptions resilience_;
  std::unique_ptr<CloudSession> cloud_;
  std::unique_ptr<FallbackSession> fallback_;   // null without a fallback model
  std::unique_ptr<FallbackSession> own_draft_;  // a draft model other than the fallback
  FallbackSession* draft_ = nullptr;            // the drafting session; null: no speculation
  SpeculationPolicy speculation_;
  StepDeadline deadline_;
  ReconnectPolicy policy_;  // outlives generations
  ResilienceStats stats_;

  // The current generation.
  std::string session_id_;
  SamplingParams sampling_;
  std::optional<int32_t> top_logprobs_;  // GenerationRequest::top_logprobs
  std::vector<int32_t> context_;
  int32_t tokens_left_ = 0;      // completion tokens the request still allows
  std::deque<Produced> queued_;  // tokens of the last cloud round not yet handed out
  GenerationMode mode_ = GenerationMode::kCloud;
  int32_t endpoint_ = 0;             // of the session's current (or last) stream
  int32_t fallback_run_tokens_ = 0;  // tokens of the current fallback period
  absl::Time fallback_since_;
  absl::Status last_failure_;
  // Set while a reconnected stream has not completed a step: the positions its worker had.
  std::optional<int32_t> resumed_from_;
  struct CatchUp {
    int32_t cached = 0;     // positions the worker still had
    int32_t positions = 0;  // positions sent to it
    int64_t bytes = 0;      // bytes sent to it
  };
  CatchUp last_catchup_;
  std::unique_ptr<AsyncOpen> attempt_;               // running or finished, not taken
  std::vector<std::unique_ptr<AsyncOpen>> retired_;  // of finished generations
};

}  // namespace tandem::edge
