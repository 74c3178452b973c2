#include "common/metrics/metrics_server.h"

#include <exception>

#include "absl/strings/str_cat.h"

namespace tandem {

absl::StatusOr<int> MetricsServer::Start(const std::string& address) {
  // civetweb reports bind failures by throwing; keep exceptions at this boundary.
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  std::vector<int> ports = exposer_->GetListeningPorts();
  port_ = ports.empty() ? 0 : ports.front();
  return port_;
}

std::vector<double> StepLatencyBuckets() {
  std::vector<double> buckets;
  for (double b = 0.0005; b < 20; b *= 2) buckets.push_back(b);
  return buckets;
}

}  // namespace tandem
