// CloudLink over gRPC (service tandem.v1.SplitInference): one channel to the worker, TLS
// by default, an optional bearer token, keepalive pings so a dead peer is noticed while a
// call waits, and per-call deadlines so that a hung stream never blocks the caller (the
// stream is cancelled instead).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/net/tls.h"
#include "common/util/clock.h"
#include "edge/cloud_link.h"

namespace tandem::edge {

struct GrpcLinkOptions {
  std::string target;      // "host:port"
  ClientTlsOptions tls;    // insecure only if asked for explicitly
  std::string auth_token;  // sent as "authorization: Bearer <token>" if not empty
  absl::Duration keepalive_time = absl::Seconds(10);    // ping interval during calls
  absl::Duration keepalive_timeout = absl::Seconds(5);  // no ping ack -> link is dead
  // After a failed connection attempt the channel waits before the next one, from the
  // initial delay growing to the maximum; calls fail fast meanwhile. Keep these in line
  // with the reconnect policy (reconnect_policy.h) or they throttle it.
  absl::Duration initial_reconnect_backoff = absl::Seconds(1);
  absl::Duration max_reconnect_backoff = absl::Seconds(5);
  int32_t max_message_bytes = 8 << 20;  // each direction
  // The clock the callers' deadlines are on (null: the system clock); must outlive the
  // link. (gRPC's own call deadlines and keepalive are always wall time.)
  const Clock* clock = nullptr;

  absl::Status Validate() const;
};

class GrpcCloudLink final : public CloudLink {
 public:
  // Builds the channel (connects lazily). Errors from the TLS files.
  static absl::StatusOr<std::unique_ptr<GrpcCloudLink>> Create(const GrpcLinkOptions& options);
  ~GrpcCloudLink() override;

  absl::StatusOr<std::unique_ptr<CloudStream>> Open(const SessionHello& hello,
                                                    absl::Time deadline) override;
  // Health RPC: OK if the worker says SERVING.
  absl::Status Probe(absl::Time deadline) override;

  // For other clients of the same worker (the tuner's probe): one channel, one token.
  std::shared_ptr<grpc::Channel> channel() const;
  const std::string& auth_token() const;

 private:
  struct Impl;
  explicit GrpcCloudLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::edge
