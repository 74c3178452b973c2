// The pieces of the wire contract (proto/tandem/v1/tandem.proto) that the edge, the worker
// and the tuner all need, in one place: the codec numbering, sampling parameters, status
// conversion between gRPC and Abseil, and the bearer-token metadata. Translation only.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/codec/codec_kind.h"
#include "common/sampler/sampler.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "proto/protocol_version.h"
#include "tandem/v1/tandem.pb.h"

namespace tandem::wire {

// The metadata key and scheme of a device's bearer token: "authorization: Bearer <token>".
inline constexpr char kAuthorizationKey[] = "authorization";
inline constexpr std::string_view kBearerScheme = "Bearer ";

// Adds the bearer token to a call's metadata; nothing if `token` is empty.
void AddBearerToken(std::string_view token, grpc::ClientContext& context);

// HiddenCodec is CodecKind + 1 (0 is UNSPECIFIED); see common/codec/codec_kind.h.
v1::HiddenCodec CodecToProto(CodecKind kind);
// InvalidArgument for UNSPECIFIED and values this build does not know.
absl::StatusOr<CodecKind> CodecFromProto(int wire_value);
// The codecs of a list this build knows, in order; others are left out.
std::vector<CodecKind> KnownCodecsFromProto(const google::protobuf::RepeatedField<int>& codecs);

void SamplingToProto(const SamplingParams& sampling, v1::SamplingParams* out);
// Wire sampling semantics to the sampler's: top_p 0 means "off" on the wire, 1 here.
SamplingParams SamplingFromProto(const v1::SamplingParams& proto);

// Same code and message (absl::StatusCode and grpc::StatusCode share their numbering).
grpc::Status ToGrpcStatus(const absl::Status& status);
// Same code; the message prefixed with `context` (e.g. "cloud: ").
absl::Status FromGrpcStatus(const grpc::Status& status, std::string_view context);

}  // namespace tandem::wire
