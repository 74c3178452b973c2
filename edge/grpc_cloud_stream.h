// One Generate stream (a CloudStream) on the gRPC callback API. The application thread
// never blocks in gRPC: reads land in an inbox as they arrive, writes are handed to the
// library, and every wait has a deadline after which the caller gets DeadlineExceeded
// (and the stream is cancelled when it is destroyed).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/util/clock.h"
#include "edge/cloud_link.h"
#include "tandem/v1/tandem.grpc.pb.h"

namespace tandem::edge {

class GrpcCloudStream final : public CloudStream {
 public:
  // Starts the call, sends Hello and waits for Ready (skipping non-terminal Errors).
  // Deadlines are on `clock`, which must outlive the stream.
  static absl::StatusOr<std::unique_ptr<CloudStream>> Open(::tandem::v1::SplitInference::Stub& stub,
                                                           const std::string& auth_token,
                                                           const Clock& clock,
                                                           const SessionHello& hello,
                                                           absl::Time deadline);
  // Cancels the call if it is still running and waits for gRPC to let go of it.
  ~GrpcCloudStream() override;

  const SessionReady& ready() const override { return ready_; }
  absl::Status Send(const HiddenChunk& chunk, absl::Time deadline) override;
  absl::StatusOr<SampledToken> Receive(absl::Time deadline) override;
  // Sends Close as the last message and waits for the worker to end the call.
  absl::Status Close(absl::Time deadline) override;
  LinkBytes bytes() const override;

  class Reactor;  // the gRPC side (grpc_cloud_stream.cc)

 private:
  explicit GrpcCloudStream(std::unique_ptr<Reactor> reactor);

  std::unique_ptr<Reactor> reactor_;
  SessionReady ready_;
};

}  // namespace tandem::edge
