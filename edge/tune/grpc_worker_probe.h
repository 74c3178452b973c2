// WorkerProbe over gRPC (Health, Profile and Echo of tandem.v1.SplitInference), on the
// channel of the edge's own link (GrpcCloudLink): one client, with the same TLS, bearer
// token and keepalive settings, for the tuner's probes and its calibration sessions.
#pragma once

#include <memory>

#include "edge/grpc_cloud_link.h"
#include "edge/tune/worker_probe.h"

namespace tandem::tune {

class GrpcWorkerProbe final : public WorkerProbe {
 public:
  // `link` must outlive the probe.
  explicit GrpcWorkerProbe(const edge::GrpcCloudLink& link);
  ~GrpcWorkerProbe() override;

  // Health; Unavailable unless the worker is SERVING.
  absl::StatusOr<WorkerInfo> Info(absl::Duration timeout) override;
  absl::StatusOr<WorkerTimings> Profile(const WorkerProfileQuery& query,
                                        absl::Duration timeout) override;
  absl::StatusOr<EchoTiming> Echo(int64_t up_bytes, int64_t down_bytes,
                                  absl::Duration timeout) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::tune
