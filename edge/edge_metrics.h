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
  void SessionStarted() { active_sessions_->Increment(); }
  void SessionEnded() { active_sessions_->Decrement(); }
  // Counts a failed generation by its status code ("UNAVAILABLE", ...).
  void AddError(absl::StatusCode code);
  // One HTTP request by endpoint ("/v1/completions") and status ("200").
  void AddRequest(std::string_view endpoint, int status);

 private:
  prometheus::Counter* tokens_;
  prometheus::Histogram* step_seconds_;
  prometheus::Histogram* bytes_per_token_;
  prometheus::Counter* sent_bytes_;
  prometheus::Counter* received_bytes_;
  prometheus::Gauge* active_sessions_;
  prometheus::Family<prometheus::Counter>* errors_;
  prometheus::Family<prometheus::Counter>* requests_;
};

}  // namespace tandem::edge
