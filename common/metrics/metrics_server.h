// The Prometheus side of a daemon: one registry, injected into whatever records metrics
// (no global registry), and an HTTP endpoint serving it at /metrics.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace tandem {

class MetricsServer {
 public:
  MetricsServer() : registry_(std::make_shared<prometheus::Registry>()) {}

  prometheus::Registry& registry() { return *registry_; }

  // Serves /metrics on "host:port" (port 0 picks a free port). Unavailable if the
  // address cannot be bound. Returns the bound port.
  absl::StatusOr<int> Start(const std::string& address);
  int port() const { return port_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// Latency buckets (seconds) for per-step histograms: 0.5 ms to ~16 s, doubling.
std::vector<double> StepLatencyBuckets();

}  // namespace tandem
