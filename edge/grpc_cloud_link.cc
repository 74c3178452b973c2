#include "edge/grpc_cloud_link.h"

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "edge/grpc_cloud_stream.h"
#include "edge/wire_convert.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"
#include "proto/wire.h"
#include "tandem/v1/tandem.grpc.pb.h"

namespace tandem::edge {

namespace pb = ::tandem::v1;

absl::Status GrpcLinkOptions::Validate() const {
  if (target.empty()) return absl::InvalidArgumentError("no cloud address given");
  if (keepalive_time < absl::Milliseconds(100) || keepalive_timeout < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError("keepalive time and timeout must be >= 100 ms");
  }
  if (initial_reconnect_backoff < absl::Milliseconds(1) ||
      max_reconnect_backoff < initial_reconnect_backoff) {
    return absl::InvalidArgumentError(
        "the channel's reconnect backoff must be >= 1 ms and not above its maximum");
  }
  if (max_message_bytes < 1024) {
    return absl::InvalidArgumentError("the message size limit must be >= 1024 bytes");
  }
  return absl::OkStatus();
}

struct GrpcCloudLink::Impl {
  GrpcLinkOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::SplitInference::Stub> stub;
};

absl::StatusOr<std::unique_ptr<GrpcCloudLink>> GrpcCloudLink::Create(
    const GrpcLinkOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  grpc::ChannelArguments args;
  // Ping during calls only; a peer that does not answer a ping within the timeout is
  // dead, which fails the calls on it (the per-step deadline catches the rest).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_time)));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_timeout)));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Come back quickly after an outage (the default backoff grows to 120 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.initial_reconnect_backoff)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.max_reconnect_backoff)));
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  ASSIGN_OR_RETURN(impl->channel, MakeChannel(options.target, options.tls, args));
  impl->stub = pb::SplitInference::NewStub(impl->channel);
  return std::unique_ptr<GrpcCloudLink>(new GrpcCloudLink(std::move(impl)));
}

GrpcCloudLink::GrpcCloudLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrpcCloudLink::~GrpcCloudLink() = default;

std::shared_ptr<grpc::Channel> GrpcCloudLink::channel() const { return impl_->channel; }
const std::string& GrpcCloudLink::auth_token() const { return impl_->options.auth_token; }

absl::StatusOr<std::unique_ptr<CloudStream>> GrpcCloudLink::Open(const SessionHello& hello,
                                                                 absl::Time deadline) {
  const Clock& clock = impl_->options.clock != nullptr ? *impl_->options.clock : SystemClock::Get();
  return GrpcCloudStream::Open(*impl_->stub, impl_->options.auth_token, clock, hello, deadline);
}

absl::Status GrpcCloudLink::Probe(absl::Time deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  wire::AddBearerToken(impl_->options.auth_token, context);
  pb::HealthRequest request;
  pb::HealthResponse response;
  RETURN_IF_ERROR(StatusFromGrpc(impl_->stub->Health(&context, request, &response)));
  if (response.status() != pb::SERVING_STATUS_SERVING) {
    return absl::UnavailableError(
        absl::StrCat("cloud: worker is ", pb::ServingStatus_Name(response.status())));
  }
  return absl::OkStatus();
}

}  // namespace tandem::edge
