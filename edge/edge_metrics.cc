#include "edge/edge_metrics.h"

#include <string>

#include "absl/status/status.h"
#include "common/metrics/metrics_server.h"

namespace tandem::edge {
namespace {

// 16 B to 16 MiB, quadrupling: q4 at dim 64 is ~40 B a token, f32 at dim 8192 is 32 KiB.
prometheus::Histogram::BucketBoundaries ByteBuckets() {
  prometheus::Histogram::BucketBoundaries buckets;
  for (double b = 16; b <= 16 * 1024 * 1024; b *= 4) buckets.push_back(b);
  return buckets;
}

}  // namespace

EdgeMetrics::EdgeMetrics(prometheus::Registry& registry, CodecKind codec) {
  tokens_ = &prometheus::BuildCounter()
                 .Name("tandem_edge_tokens_generated_total")
                 .Help("Tokens generated and streamed to clients")
                 .Register(registry)
                 .Add({});
  step_seconds_ = &prometheus::BuildHistogram()
                       .Name("tandem_edge_step_seconds")
                       .Help("Wall time of one decode step: edge layers, link and worker")
                       .Register(registry)
                       .Add({}, StepLatencyBuckets());
  bytes_per_token_ = &prometheus::BuildHistogram()
                          .Name("tandem_edge_bytes_per_token")
                          .Help("Wire bytes (both directions) of one decode step")
                          .Register(registry)
                          .Add({}, ByteBuckets());
  sent_bytes_ = &prometheus::BuildCounter()
                     .Name("tandem_edge_sent_bytes_total")
                     .Help("Bytes of messages sent to the cloud worker")
                     .Register(registry)
                     .Add({});
  received_bytes_ = &prometheus::BuildCounter()
                         .Name("tandem_edge_received_bytes_total")
                         .Help("Bytes of messages received from the cloud worker")
                         .Register(registry)
                         .Add({});
  active_sessions_ = &prometheus::BuildGauge()
                          .Name("tandem_edge_active_sessions")
                          .Help("Generations in progress")
                          .Register(registry)
                          .Add({});
  errors_ = &prometheus::BuildCounter()
                 .Name("tandem_edge_errors_total")
                 .Help("Failed generations by status code")
                 .Register(registry);
  requests_ = &prometheus::BuildCounter()
                   .Name("tandem_edge_requests_total")
                   .Help("HTTP API requests by endpoint and status")
                   .Register(registry);
  prometheus::BuildGauge()
      .Name("tandem_edge_codec_info")
      .Help("Hidden-state codec in use (value 1)")
      .Register(registry)
      .Add({{"codec", std::string(CodecKindName(codec))}})
      .Set(1);
}

void EdgeMetrics::AddLinkBytes(int64_t sent, int64_t received) {
  sent_bytes_->Increment(static_cast<double>(sent));
  received_bytes_->Increment(static_cast<double>(received));
}

void EdgeMetrics::AddError(absl::StatusCode code) {
  errors_->Add({{"code", absl::StatusCodeToString(code)}}).Increment();
}

void EdgeMetrics::AddRequest(std::string_view endpoint, int status) {
  requests_->Add({{"endpoint", std::string(endpoint)}, {"status", std::to_string(status)}})
      .Increment();
}

}  // namespace tandem::edge
