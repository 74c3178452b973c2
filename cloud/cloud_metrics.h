// The worker's Prometheus metrics, registered in the injected registry (no globals).
// Only the transport layer records them.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "cloud/messages.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tandem::cloud {

class CloudMetrics {
 public:
  explicit CloudMetrics(prometheus::Registry& registry);

  // One step (a HiddenChunk): prompt if it carries more than one position, else decode.
  void RecordStep(int32_t positions, bool sampled, double seconds);
  void AddReceivedBytes(size_t bytes) { received_bytes_.Increment(static_cast<double>(bytes)); }
  void AddSentBytes(size_t bytes) { sent_bytes_.Increment(static_cast<double>(bytes)); }
  // How the scheduler ran a step: the batch size it finished in, its queue wait, and
  // whether it missed its session's per-token target.
  void RecordScheduling(const StepTiming& timing);
  // A new session refused for lack of room: reason "deadline", "sessions" or "kv_budget".
  void RecordRefusal(const std::string& reason);
  // A stream ended with (or a unary call returned) a non-OK status.
  void RecordError(absl::StatusCode code);
  // A new session (not a resume) opened with `codec` (its lower-case name).
  void RecordSessionOpened(std::string_view codec);
  void StreamAttached() { active_sessions_.Increment(); }
  void StreamDetached() { active_sessions_.Decrement(); }
  // The worker serves beyond loopback without client authentication
  // (--allow-unauthenticated): 1, so that an alert can fire on it.
  void SetUnauthenticated(bool on) { unauthenticated_.Set(on ? 1 : 0); }
  // A stream cancelled by the worker for silence, by why ("hello": no Hello in time,
  // "idle": an attached session's stream sent nothing for the stream idle timeout).
  void RecordStreamEvicted(std::string_view why);

 private:
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Counter>& sessions_;
  prometheus::Counter& tokens_;
  prometheus::Family<prometheus::Histogram>& step_seconds_;
  prometheus::Histogram& prompt_step_seconds_;
  prometheus::Histogram& decode_step_seconds_;
  prometheus::Counter& received_bytes_;
  prometheus::Counter& sent_bytes_;
  prometheus::Gauge& active_sessions_;
  prometheus::Counter& positions_;
  prometheus::Gauge& unauthenticated_;
  prometheus::Family<prometheus::Counter>& evicted_streams_;
  prometheus::Histogram& batch_positions_;
  prometheus::Histogram& queue_wait_seconds_;
  prometheus::Counter& deadline_misses_;
  prometheus::Family<prometheus::Counter>& refusals_;
};

}  // namespace tandem::cloud
