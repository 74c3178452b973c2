// WorkerProbe over gRPC (Health, Profile and Echo of tandem.v1.SplitInference), with the
// same TLS and bearer-token options as tandem-edge's link.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/net/tls.h"
#include "edge/tune/worker_probe.h"

namespace tandem::tune {

struct GrpcProbeOptions {
  std::string target;      // "host:port"
  ClientTlsOptions tls;    // insecure only if asked for explicitly
  std::string auth_token;  // sent as "authorization: Bearer <token>" if not empty
};

class GrpcWorkerProbe final : public WorkerProbe {
 public:
  // Builds the channel (connects lazily). InvalidArgument without a target; the TLS
  // files' errors.
  static absl::StatusOr<std::unique_ptr<GrpcWorkerProbe>> Create(const GrpcProbeOptions& options);
  ~GrpcWorkerProbe() override;

  // Health; Unavailable unless the worker is SERVING.
  absl::StatusOr<WorkerInfo> Info(absl::Duration timeout) override;
  absl::StatusOr<WorkerTimings> Profile(const WorkerProfileQuery& query,
                                        absl::Duration timeout) override;
  absl::StatusOr<EchoTiming> Echo(int64_t up_bytes, int64_t down_bytes,
                                  absl::Duration timeout) override;

 private:
  struct Impl;
  explicit GrpcWorkerProbe(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::tune
