#include "edge/wire_convert.h"

#include "absl/strings/str_format.h"
#include "common/codec/crc32c.h"

namespace tandem::edge {

namespace pb = ::tandem::v1;

pb::HiddenCodec CodecToProto(CodecKind kind) {
  // The proto enum is CodecKind + 1 (0 is UNSPECIFIED); see common/codec/codec_kind.h.
  return static_cast<pb::HiddenCodec>(static_cast<int>(kind) + 1);
}

absl::StatusOr<CodecKind> CodecFromProto(int codec) {
  for (CodecKind kind : kAllCodecKinds) {
    if (CodecToProto(kind) == codec) return kind;
  }
  return absl::InvalidArgumentError(absl::StrFormat("unknown hidden codec %d", codec));
}

void HelloToProto(const SessionHello& hello, pb::Hello* out) {
  out->set_protocol_version(kProtocolVersion);
  out->set_model_id(hello.model_id);
  out->set_n_layers(hello.n_layers);
  out->set_split_layer(hello.split_layer);
  out->set_hidden_dim(hello.hidden_dim);
  out->set_codec(CodecToProto(hello.codec));
  pb::SamplingParams* s = out->mutable_sampling();
  s->set_temperature(hello.sampling.temperature);
  s->set_top_k(hello.sampling.top_k);
  s->set_top_p(hello.sampling.top_p);
  s->set_seed(hello.sampling.seed);
  out->set_session_id(hello.session_id);
  out->set_resume_position(hello.resume_position);
  out->set_max_context(hello.max_context);
}

void ChunkToProto(const HiddenChunk& chunk, pb::HiddenChunk* out) {
  out->set_start_position(chunk.start_position);
  out->set_num_positions(chunk.num_positions);
  out->set_codec(CodecToProto(chunk.codec));
  out->set_payload(chunk.payload);
  out->set_payload_crc32c(Crc32c(chunk.payload));
  out->set_sample(chunk.sample);
}

SessionReady ReadyFromProto(const pb::Ready& ready) {
  SessionReady out{.cached_positions = ready.cached_positions(),
                   .max_chunk_positions = ready.max_chunk_positions(),
                   .max_chunk_bytes = ready.max_chunk_bytes(),
                   .max_context = ready.max_context()};
  for (int codec : ready.codecs()) {
    if (auto kind = CodecFromProto(codec); kind.ok()) out.codecs.push_back(*kind);
  }
  return out;
}

SampledToken TokenFromProto(const pb::Token& token) {
  return {.position = token.position(), .token_id = token.token_id()};
}

absl::Status StatusFromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      "cloud: " + status.error_message());
}

}  // namespace tandem::edge
