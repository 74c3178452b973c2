#include "proto/wire.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/util/string_view_compat.h"

namespace tandem::wire {

void AddBearerToken(std::string_view token, grpc::ClientContext& context) {
  if (token.empty()) return;
  context.AddMetadata(kAuthorizationKey, absl::StrCat(AbslView(kBearerScheme), AbslView(token)));
}

v1::HiddenCodec CodecToProto(CodecKind kind) {
  return static_cast<v1::HiddenCodec>(static_cast<int>(kind) + 1);
}

absl::StatusOr<CodecKind> CodecFromProto(int wire_value) {
  for (CodecKind kind : kAllCodecKinds) {
    if (wire_value == CodecToProto(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown or unspecified hidden-state codec ", wire_value));
}

std::vector<CodecKind> KnownCodecsFromProto(const google::protobuf::RepeatedField<int>& codecs) {
  std::vector<CodecKind> out;
  for (int codec : codecs) {
    if (absl::StatusOr<CodecKind> kind = CodecFromProto(codec); kind.ok()) out.push_back(*kind);
  }
  return out;
}

void SamplingToProto(const SamplingParams& sampling, v1::SamplingParams* out) {
  out->set_temperature(sampling.temperature);
  out->set_top_k(sampling.top_k);
  out->set_top_p(sampling.top_p);
  out->set_seed(sampling.seed);
}

SamplingParams SamplingFromProto(const v1::SamplingParams& proto) {
  return SamplingParams{.temperature = proto.temperature(),
                        .top_k = proto.top_k(),
                        .top_p = proto.top_p() == 0 ? 1.0f : proto.top_p(),
                        .seed = proto.seed()};
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status, std::string_view context) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(AbslView(context), status.error_message()));
}

}  // namespace tandem::wire
