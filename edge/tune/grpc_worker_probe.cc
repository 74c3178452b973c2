#include "edge/tune/grpc_worker_probe.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "grpcpp/client_context.h"
#include "proto/wire.h"
#include "tandem/v1/tandem.grpc.pb.h"

namespace tandem::tune {

namespace pb = ::tandem::v1;

namespace {

absl::Status FromGrpc(const grpc::Status& s, const char* rpc) {
  return wire::FromGrpcStatus(s, absl::StrCat("worker ", rpc, ": "));
}

}  // namespace

struct GrpcWorkerProbe::Impl {
  const edge::GrpcCloudLink& link;
  std::unique_ptr<pb::SplitInference::Stub> stub;

  void Prepare(grpc::ClientContext& context, absl::Duration timeout) const {
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
    wire::AddBearerToken(link.auth_token(), context);
  }
};

GrpcWorkerProbe::GrpcWorkerProbe(const edge::GrpcCloudLink& link)
    : impl_(new Impl{.link = link, .stub = pb::SplitInference::NewStub(link.channel())}) {}
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
  return WorkerInfo{.model_id = response.model_id(),
                    .n_layers = response.n_layers(),
                    .hidden_dim = response.hidden_dim(),
                    .first_layer = response.first_layer(),
                    .codecs = wire::KnownCodecsFromProto(response.codecs()),
                    .max_context = response.max_context()};
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
