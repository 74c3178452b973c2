#include "edge/wire_convert.h"

#include <algorithm>
#include <cstdint>

#include "common/codec/crc32c.h"
#include "proto/wire.h"

namespace tandem::edge {

namespace pb = ::tandem::v1;
using wire::CodecToProto;

void HelloToProto(const SessionHello& hello, pb::Hello* out) {
  out->set_protocol_version(wire::kProtocolVersion);
  out->set_model_id(hello.model_id);
  out->set_n_layers(hello.n_layers);
  out->set_split_layer(hello.split_layer);
  out->set_hidden_dim(hello.hidden_dim);
  out->set_codec(CodecToProto(hello.codec));
  wire::SamplingToProto(hello.sampling, out->mutable_sampling());
  out->set_session_id(hello.session_id);
  out->set_resume_position(hello.resume_position);
  out->set_max_context(hello.max_context);
  if (hello.token_deadline != absl::InfiniteDuration()) {
    out->set_token_deadline_ms(static_cast<uint32_t>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(hello.token_deadline), 1, UINT32_MAX)));
  }
  out->set_top_logprobs(hello.top_logprobs);
}

void ChunkToProto(const HiddenChunk& chunk, pb::HiddenChunk* out) {
  out->set_start_position(chunk.start_position);
  out->set_num_positions(chunk.num_positions);
  out->set_codec(CodecToProto(chunk.codec));
  out->set_payload(chunk.payload);
  out->set_payload_crc32c(Crc32c(chunk.payload));
  out->set_sample(chunk.sample);
  out->mutable_draft_tokens()->Assign(chunk.draft_tokens.begin(), chunk.draft_tokens.end());
}

SessionReady ReadyFromProto(const pb::Ready& ready) {
  SessionReady out{.cached_positions = ready.cached_positions(),
                   .max_chunk_positions = ready.max_chunk_positions(),
                   .max_chunk_bytes = ready.max_chunk_bytes(),
                   .max_context = ready.max_context(),
                   .max_top_logprobs = ready.max_top_logprobs(),
                   .max_draft_tokens = ready.max_draft_tokens()};
  out.codecs = wire::KnownCodecsFromProto(ready.codecs());
  return out;
}

SampledToken TokenFromProto(const pb::Token& token) {
  SampledToken out{
      .position = token.position(), .token_id = token.token_id(), .logprob = token.logprob()};
  out.accepted_drafts = token.accepted_drafts();
  out.top_logprobs.reserve(token.top_logprobs_size());
  for (const pb::TokenLogprob& t : token.top_logprobs()) {
    out.top_logprobs.push_back({.token = t.token_id(), .logprob = t.logprob()});
  }
  return out;
}

absl::Status StatusFromGrpc(const grpc::Status& status) {
  return wire::FromGrpcStatus(status, "cloud: ");
}

}  // namespace tandem::edge
