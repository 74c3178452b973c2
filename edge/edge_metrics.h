// The edge daemon's Prometheus metrics, registered in an injected registry (see
// common/metrics/metrics_server.h). Thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "common/codec/codec_kind.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tandem::edge {

class EdgeMetrics {
 public:
  // Registers every metric; tandem_edge_codec_info{codec=<codec>} is set to 1.
  EdgeMetrics(prometheus::Registry& registry, CodecKind codec);

  void AddToken() { tokens_->Increment(); }
  // One decode step: edge layers, the round trip and the worker's part.
  void ObserveStep(double seconds) { step_seconds_->Observe(seconds); }
  // Wire bytes of one decode step, both directions.
  void ObserveBytesPerToken(int64_t bytes) {
    bytes_per_token_->Observe(static_cast<double>(bytes));
  }
  void AddLinkBytes(int64_t sent, int64_t received);
  // Totals so far (for summaries such as the one-shot mode's timing line).
  double sent_bytes() const { return sent_bytes_->Value(); }
  double received_bytes() const { return received_bytes_->Value(); }
  void SessionStarted() { active_sessions_->Increment(); }
  void SessionEnded() { active_sessions_->Decrement(); }
  // Counts a failed generation by its status code ("UNAVAILABLE", ...).
  void AddError(absl::StatusCode code);
  // One HTTP request by endpoint ("/v1/completions") and status ("200").
  void AddRequest(std::string_view endpoint, int status);

  // Resilience (see resilient_generator.h). `mode` is "cloud" or "fallback" (anything else
  // counts as fallback).
  void AddTokenByMode(std::string_view mode);
  // A generation switched to `mode`.
  void AddModeSwitch(std::string_view to);
  // Generations running on the fallback model: +1 when one switches to it, -1 back.
  void AddFallbackActive(int delta) { fallback_active_->Increment(delta); }
  // The link to the worker failed during a generation, by status code.
  void AddLinkFailure(absl::StatusCode code);
  // A reconnect attempt: "resumed" (the worker still had the session), "replayed" (it
  // did not: the whole context was sent again) or "failed".
  void AddReconnect(std::string_view result);
  // Positions and bytes (sent) to bring a worker up to date when switching back.
  void AddCatchUp(int64_t positions, int64_t bytes);
  // The current decode-step deadline (derived from the measured step latency).
  void SetStepDeadline(double seconds) { step_deadline_seconds_->Set(seconds); }
  // One cloud round trip of speculative decoding: `drafted` tokens guessed by the draft
  // model (0: a plain step), `accepted` of them kept by the worker.
  void ObserveRound(int32_t drafted, int32_t accepted);

 private:
  prometheus::Counter* tokens_;
  prometheus::Histogram* step_seconds_;
  prometheus::Histogram* bytes_per_token_;
  prometheus::Counter* sent_bytes_;
  prometheus::Counter* received_bytes_;
  prometheus::Gauge* active_sessions_;
  prometheus::Family<prometheus::Counter>* errors_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Counter* cloud_tokens_;  // tandem_edge_tokens_by_mode_total, looked up once
  prometheus::Counter* fallback_tokens_;
  prometheus::Family<prometheus::Counter>* mode_switches_;
  prometheus::Gauge* fallback_active_;
  prometheus::Family<prometheus::Counter>* link_failures_;
  prometheus::Family<prometheus::Counter>* reconnects_;
  prometheus::Counter* catchup_positions_;
  prometheus::Counter* catchup_bytes_;
  prometheus::Counter* drafted_tokens_;
  prometheus::Counter* accepted_drafts_;
  prometheus::Histogram* draft_length_;
  prometheus::Histogram* tokens_per_round_;
  prometheus::Gauge* step_deadline_seconds_;
};

}  // namespace tandem::edge
