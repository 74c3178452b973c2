// A client for the standard gRPC health service (grpc.health.v1.Health/Check), for
// `tandem-cloud --health-check` (container health checks run it inside the container).
// It speaks the two tiny messages by hand over a generic stub, so it needs no generated
// code for health.proto (Debian ships no such proto).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"

namespace tandem::cloud {

// OK if the server at `target` ("host:port") reports `service` ("" = the whole server)
// as SERVING before `timeout`. Otherwise: Unavailable naming the status it reported
// (NOT_SERVING, ...), or the RPC's own error (UNAVAILABLE when nothing listens,
// NOT_FOUND for an unknown service, DEADLINE_EXCEEDED).
absl::Status CheckGrpcHealth(const std::string& target, const std::string& service,
                             std::shared_ptr<grpc::ChannelCredentials> credentials,
                             absl::Duration timeout);

}  // namespace tandem::cloud
