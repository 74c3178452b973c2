#include "edge/tune/grpc_worker_probe.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"
#include "tandem/v1/tandem.grpc.pb.h"

namespace tandem::tune {

namespace pb = ::tandem::v1;

namespace {

absl::Status FromGrpc(const grpc::Status& s, const char* rpc) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat("worker ", rpc, ": ", s.error_message()));
}

// HiddenCodec numbering is CodecKind + 1 (codec_kind.h).
CodecKind KindOf(int proto_codec) { return static_cast<CodecKind>(proto_codec - 1); }

}  // namespace

struct GrpcWorkerProbe::Impl {
  GrpcProbeOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::SplitInference::Stub> stub;

  void Prepare(grpc::ClientContext& context, absl::Duration timeout) const {
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
    if (!options.auth_token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", options.auth_token));
    }
  }
};

absl::StatusOr<std::unique_ptr<GrpcWorkerProbe>> GrpcWorkerProbe::Create(
    const GrpcProbeOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("no cloud address given");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(4 << 20);  // echo replies are at most 1 MiB
  args.SetMaxSendMessageSize(4 << 20);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  ASSIGN_OR_RETURN(impl->channel, MakeChannel(options.target, options.tls, args));
  impl->stub = pb::SplitInference::NewStub(impl->channel);
  return std::unique_ptr<GrpcWorkerProbe>(new GrpcWorkerProbe(std::move(impl)));
}

GrpcWorkerProbe::GrpcWorkerProbe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrpcWorkerProbe::~GrpcWorkerProbe() = default;

absl::StatusOr<WorkerInfo> GrpcWorkerProbe::Info(absl::Duration timeout) {
  grpc::ClientContext context;
  impl_->Prepare(context, timeout);
  pb::HealthRequest request;
  pb::HealthResponse response;
  RETURN_IF_ERROR(FromGrpc(impl_->stub->Health(&context, request, &response), "Health"));
  if (response.status() != pb::SERVING_STATUS_SERVING) {
    return absl::UnavailableError(
        absl::StrCat("worker is ", pb::ServingStatus_Name(response.status())));
  }
  WorkerInfo info{.model_id = response.model_id(),
                  .n_layers = response.n_layers(),
                  .hidden_dim = response.hidden_dim(),
                  .first_layer = response.first_layer(),
                  .max_context = response.max_context()};
  for (int codec : response.codecs()) {
    if (codec >= pb::HIDDEN_CODEC_F32 && codec <= pb::HIDDEN_CODEC_Q4) {
      info.codecs.push_back(KindOf(codec));
    }
  }
  return info;
}

absl::StatusOr<WorkerTimings> GrpcWorkerProbe::Profile(const WorkerProfileQuery& query,
                                                       absl::Duration timeout) {
  grpc::ClientContext context;
  impl_->Prepare(context, timeout);
  pb::ProfileRequest request;
  request.set_first_layer(query.first_layer);
  request.set_context_positions(query.context_positions);
  request.set_prompt_chunk_positions(query.prompt_chunk_positions);
  request.set_repetitions(query.repetitions);
  pb::ProfileResponse response;
  RETURN_IF_ERROR(FromGrpc(impl_->stub->Profile(&context, request, &response), "Profile"));
  WorkerTimings t{.first_layer = query.first_layer,
                  .prompt_chunk_positions = response.prompt_chunk_positions(),
                  .head_decode_seconds = response.head_decode_seconds(),
                  .threads = response.threads()};
  for (int i = 0; i < response.layers_size(); ++i) {
    const pb::LayerProfile& l = response.layers(i);
    if (l.layer() != query.first_layer + i) {
      return absl::InternalError(absl::StrCat("worker Profile: layer ", l.layer(),
                                              " out of order (expected ", query.first_layer + i,
                                              ")"));
    }
    t.layers.push_back(
        {.decode_seconds = l.decode_seconds(), .prompt_chunk_seconds = l.prompt_chunk_seconds()});
  }
  return t;
}

absl::StatusOr<EchoTiming> GrpcWorkerProbe::Echo(int64_t up_bytes, int64_t down_bytes,
                                                 absl::Duration timeout) {
  grpc::ClientContext context;
  impl_->Prepare(context, timeout);
  pb::EchoRequest request;
  request.set_payload(std::string(static_cast<size_t>(up_bytes), 'x'));
  request.set_response_bytes(static_cast<int32_t>(down_bytes));
  pb::EchoResponse response;
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status status = impl_->stub->Echo(&context, request, &response);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RETURN_IF_ERROR(FromGrpc(status, "Echo"));
  return EchoTiming{.round_trip_seconds = seconds, .server_seconds = response.server_seconds()};
}

}  // namespace tandem::tune
