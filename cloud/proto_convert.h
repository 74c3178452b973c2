// Translation between the wire contract (tandem.v1 protobuf messages, grpc::Status) and
// the worker core's domain types (messages.h, absl::Status). Nothing else.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cloud/layer_profiler.h"
#include "cloud/messages.h"
#include "grpcpp/support/status.h"
#include "tandem/v1/tandem.pb.h"

namespace tandem::cloud {

// Same code and message (absl::StatusCode and grpc::StatusCode share their numbering).
grpc::Status ToGrpcStatus(const absl::Status& status);

// InvalidArgument for UNSPECIFIED or a value this build does not know.
absl::StatusOr<CodecKind> CodecFromProto(int wire_value);
v1::HiddenCodec CodecToProto(CodecKind kind);

// Wire sampling semantics to the sampler's: top_p 0 means "off" on the wire, 1 here.
SamplingParams SamplingFromProto(const v1::SamplingParams& proto);

// InvalidArgument for an unknown codec.
absl::StatusOr<OpenRequest> OpenRequestFromProto(const v1::Hello& hello);
// The chunk's payload stays owned by `chunk` (the request holds a view).
absl::StatusOr<ChunkRequest> ChunkRequestFromProto(const v1::HiddenChunk& chunk);
ProfileRequest ProfileRequestFromProto(const v1::ProfileRequest& request);

void ReadyToProto(const OpenReply& reply, v1::Ready* ready);
void TokenToProto(const TokenReply& token, v1::Token* proto);
void NoticeToProto(const absl::Status& notice, v1::Error* error);
void StatusToProto(const WorkerStatus& status, v1::HealthResponse* health);
void ProfileToProto(const ProfileResult& result, v1::ProfileResponse* response);

}  // namespace tandem::cloud
