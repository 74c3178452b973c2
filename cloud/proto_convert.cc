#include "cloud/proto_convert.h"

#include <string>

#include "common/util/status_macros.h"

namespace tandem::cloud {

using wire::CodecFromProto;
using wire::CodecToProto;

absl::StatusOr<OpenRequest> OpenRequestFromProto(const v1::Hello& hello) {
  OpenRequest r;
  r.protocol_version = hello.protocol_version();
  r.model_id = hello.model_id();
  r.n_layers = hello.n_layers();
  r.split_layer = hello.split_layer();
  r.hidden_dim = hello.hidden_dim();
  ASSIGN_OR_RETURN(r.codec, CodecFromProto(hello.codec()));
  r.sampling = wire::SamplingFromProto(hello.sampling());
  r.session_id = hello.session_id();
  r.resume_position = hello.resume_position();
  r.max_context = hello.max_context();
  r.top_logprobs = hello.top_logprobs();
  r.require_cached = hello.require_cached();
  if (hello.token_deadline_ms() > 0)
    r.token_deadline = absl::Milliseconds(hello.token_deadline_ms());
  return r;
}

absl::StatusOr<ChunkRequest> ChunkRequestFromProto(const v1::HiddenChunk& chunk) {
  ChunkRequest r;
  r.start_position = chunk.start_position();
  r.num_positions = chunk.num_positions();
  ASSIGN_OR_RETURN(r.codec, CodecFromProto(chunk.codec()));
  r.payload = chunk.payload();
  r.payload_crc32c = chunk.payload_crc32c();
  r.sample = chunk.sample();
  r.draft_tokens = absl::MakeConstSpan(chunk.draft_tokens().data(), chunk.draft_tokens_size());
  return r;
}

ProfileRequest ProfileRequestFromProto(const v1::ProfileRequest& request) {
  return ProfileRequest{.first_layer = request.first_layer(),
                        .end_layer = request.end_layer(),
                        .context_positions = request.context_positions(),
                        .prompt_chunk_positions = request.prompt_chunk_positions(),
                        .repetitions = request.repetitions()};
}

void ReadyToProto(const OpenReply& reply, v1::Ready* ready) {
  ready->set_session_id(reply.session_id);
  ready->set_cached_positions(reply.cached_positions);
  ready->set_model_id(reply.model_id);
  ready->set_protocol_version(reply.protocol_version);
  ready->set_max_chunk_positions(reply.max_chunk_positions);
  ready->set_max_chunk_bytes(reply.max_chunk_bytes);
  for (CodecKind kind : reply.codecs) ready->add_codecs(CodecToProto(kind));
  ready->set_max_top_logprobs(reply.max_top_logprobs);
  ready->set_max_context(reply.max_context);
  ready->set_max_draft_tokens(reply.max_draft_tokens);
}

void TokenToProto(const SampledToken& token, v1::Token* proto) {
  proto->Clear();  // the service reuses its reply message: no alternatives of an earlier token
  proto->set_position(token.position);
  proto->set_token_id(token.token_id);
  proto->set_logprob(token.logprob);
  proto->set_accepted_drafts(token.accepted_drafts);
  for (const TokenLogprob& t : token.top_logprobs) {
    v1::TokenLogprob* alt = proto->add_top_logprobs();
    alt->set_token_id(t.token);
    alt->set_logprob(t.logprob);
  }
}

void NoticeToProto(const absl::Status& notice, v1::Error* error) {
  error->set_code(static_cast<int32_t>(notice.code()));
  error->set_message(std::string(notice.message()));
}

void StatusToProto(const WorkerStatus& status, v1::HealthResponse* health) {
  health->set_status(status.state == ServingState::kServing ? v1::SERVING_STATUS_SERVING
                                                            : v1::SERVING_STATUS_DRAINING);
  health->set_model_id(status.model_id);
  health->set_n_layers(status.n_layers);
  health->set_hidden_dim(status.hidden_dim);
  health->set_first_layer(status.first_layer);
  health->set_min_protocol_version(wire::kMinProtocolVersion);
  health->set_max_protocol_version(wire::kMaxProtocolVersion);
  for (CodecKind kind : status.codecs) health->add_codecs(CodecToProto(kind));
  health->set_active_sessions(status.sessions);
  health->set_max_sessions(status.max_sessions);
  health->set_max_context(status.max_context);
}

void ProfileToProto(const ProfileResult& result, v1::ProfileResponse* response) {
  for (const LayerTiming& t : result.layers) {
    v1::LayerProfile* layer = response->add_layers();
    layer->set_layer(t.layer);
    layer->set_decode_seconds(t.decode_seconds);
    layer->set_prompt_chunk_seconds(t.prompt_chunk_seconds);
  }
  response->set_head_decode_seconds(result.head_decode_seconds);
  response->set_context_positions(result.effective.context_positions);
  response->set_prompt_chunk_positions(result.effective.prompt_chunk_positions);
  response->set_repetitions(result.effective.repetitions);
  response->set_threads(result.threads);
}

}  // namespace tandem::cloud
