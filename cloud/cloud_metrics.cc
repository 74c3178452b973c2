#include "cloud/cloud_metrics.h"

#include <string>

#include "absl/strings/ascii.h"
#include "common/metrics/families.h"
#include "common/metrics/metrics_server.h"

namespace tandem::cloud {
namespace {

// "FAILED_PRECONDITION" etc., the names gRPC and Abseil share.
std::string CodeName(absl::StatusCode code) {
  return absl::AsciiStrToUpper(absl::StatusCodeToString(code));
}

}  // namespace

CloudMetrics::CloudMetrics(prometheus::Registry& registry)
    : errors_(NewCounterFamily(registry, "tandem_cloud_errors_total",
                               "Streams and calls that ended with an error, by gRPC status code")),
      sessions_(NewCounterFamily(registry, "tandem_cloud_sessions_total",
                                 "Sessions opened (not counting resumes), by hidden-state codec")),
      tokens_(NewCounter(registry, "tandem_cloud_tokens_generated_total",
                         "Tokens sampled and sent to edges")),
      step_seconds_(
          NewHistogramFamily(registry, "tandem_cloud_step_seconds",
                             "Time from a chunk's arrival to its reply (queue + compute)")),
      prompt_step_seconds_(step_seconds_.Add({{"kind", "prompt"}}, StepLatencyBuckets())),
      decode_step_seconds_(step_seconds_.Add({{"kind", "decode"}}, StepLatencyBuckets())),
      received_bytes_(NewCounter(registry, "tandem_cloud_received_bytes_total",
                                 "Bytes of stream messages received from edges")),
      sent_bytes_(NewCounter(registry, "tandem_cloud_sent_bytes_total",
                             "Bytes of stream messages sent to edges")),
      active_sessions_(
          NewGauge(registry, "tandem_cloud_active_sessions", "Sessions attached to a live stream")),
      positions_(NewCounter(registry, "tandem_cloud_positions_processed_total",
                            "Hidden-state positions run through the worker's layers")),
      unauthenticated_(NewGauge(registry, "tandem_cloud_unauthenticated_listener",
                                "1 if the worker accepts clients beyond loopback without mutual "
                                "TLS or bearer tokens (--allow-unauthenticated)")),
      evicted_streams_(NewCounterFamily(registry, "tandem_cloud_streams_evicted_total",
                                        "Streams cancelled for silence: no Hello in time (hello) "
                                        "or an attached session's stream idle too long (idle)")),
      batch_positions_(NewHistogram(registry, "tandem_cloud_batch_positions",
                                    "Positions in the scheduler batch that finished each step (all "
                                    "sessions' decode steps and prompt slices together)",
                                    std::vector<double>{1, 2, 4, 8, 16, 32, 64, 128, 256})),
      queue_wait_seconds_(NewHistogram(registry, "tandem_cloud_queue_wait_seconds",
                                       "Time from a step's arrival to its first batch",
                                       StepLatencyBuckets())),
      deadline_misses_(NewCounter(registry, "tandem_cloud_deadline_misses_total",
                                  "Tokens sampled later than their session's per-token target")),
      refusals_(
          NewCounterFamily(registry, "tandem_cloud_admission_refusals_total",
                           "New sessions refused for lack of room, by reason (deadline: serving it "
                           "would break per-token targets; sessions; kv_budget)")) {}

void CloudMetrics::RecordScheduling(const StepTiming& timing) {
  if (timing.batch_rows > 0) batch_positions_.Observe(timing.batch_rows);
  queue_wait_seconds_.Observe(absl::ToDoubleSeconds(timing.queue_wait));
  if (timing.deadline_missed) deadline_misses_.Increment();
}

void CloudMetrics::RecordRefusal(const std::string& reason) {
  refusals_.Add({{"reason", reason}}).Increment();
}

void CloudMetrics::RecordStreamEvicted(std::string_view why) {
  evicted_streams_.Add({{"why", std::string(why)}}).Increment();
}

void CloudMetrics::RecordStep(int32_t positions, bool sampled, double seconds) {
  (positions > 1 ? prompt_step_seconds_ : decode_step_seconds_).Observe(seconds);
  positions_.Increment(positions);
  if (sampled) tokens_.Increment();
}

void CloudMetrics::RecordError(absl::StatusCode code) {
  errors_.Add({{"code", CodeName(code)}}).Increment();
}

void CloudMetrics::RecordSessionOpened(std::string_view codec) {
  sessions_.Add({{"codec", std::string(codec)}}).Increment();
}

}  // namespace tandem::cloud
