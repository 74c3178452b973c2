// Translation between the wire contract (tandem.v1 protobuf messages, grpc::Status) and
// the worker core's domain types (messages.h, absl::Status). Nothing else; what the edge
// and the tuner share of the contract (codecs, status, sampling) is in proto/wire.h.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cloud/layer_profiler.h"
#include "cloud/messages.h"
#include "grpcpp/support/status.h"
#include "proto/wire.h"
#include "tandem/v1/tandem.pb.h"

namespace tandem::cloud {

using wire::ToGrpcStatus;

// InvalidArgument for an unknown codec.
absl::StatusOr<OpenRequest> OpenRequestFromProto(const v1::Hello& hello);
// The chunk's payload stays owned by `chunk` (the request holds a view).
absl::StatusOr<ChunkRequest> ChunkRequestFromProto(const v1::HiddenChunk& chunk);
ProfileRequest ProfileRequestFromProto(const v1::ProfileRequest& request);

void ReadyToProto(const OpenReply& reply, v1::Ready* ready);
// Replaces whatever `proto` held.
void TokenToProto(const SampledToken& token, v1::Token* proto);
void NoticeToProto(const absl::Status& notice, v1::Error* error);
void StatusToProto(const WorkerStatus& status, v1::HealthResponse* health);
void ProfileToProto(const ProfileResult& result, v1::ProfileResponse* response);

}  // namespace tandem::cloud
