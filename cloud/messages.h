// The worker core's requests and replies: the domain side of the wire contract
// (proto/tandem/v1/tandem.proto), free of gRPC and protobuf types. The transport layer
// translates between the two; the fields mean what the proto's comments say.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cloud/token_sampling.h"
#include "common/codec/codec_kind.h"
#include "common/sampler/sampled_token.h"
#include "common/sampler/sampler.h"
#include "proto/protocol_version.h"

namespace tandem::cloud {

// Hello: open a new session or resume one.
struct OpenRequest {
  uint32_t protocol_version = 0;
  std::string model_id;
  int32_t n_layers = 0;
  int32_t split_layer = 0;  // K: the worker runs [K, N)
  int32_t hidden_dim = 0;
  CodecKind codec = CodecKind::kF32;
  SamplingParams sampling;
  std::string session_id;
  int32_t resume_position = 0;  // positions the edge believes are cached
  int32_t max_context = 0;      // 0: the worker's limit
  int32_t top_logprobs = 0;
  bool require_cached = false;  // NotFound instead of an empty session if unknown
  // Who opens it (set by the transport from the client's credentials, never from the
  // message): a bearer token's name or a client certificate's subject; "" if the worker
  // authenticates nobody. Sessions belong to their principal.
  std::string principal;
  // Per-token latency target; InfiniteDuration: none. The scheduler orders work by it and
  // refuses the session (ResourceExhausted) if admitting it would break a target.
  absl::Duration token_deadline = absl::InfiniteDuration();
};

// Ready.
struct OpenReply {
  std::string session_id;
  int32_t cached_positions = 0;
  std::string model_id;
  uint32_t protocol_version = 0;
  int32_t max_chunk_positions = 0;
  int64_t max_chunk_bytes = 0;
  std::vector<CodecKind> codecs;
  int32_t max_top_logprobs = 0;
  int32_t top_logprobs = 0;      // granted: alternatives sent with each Token
  int32_t max_context = 0;       // KV-cache positions granted to the session
  int32_t max_draft_tokens = 0;  // draft tokens verified per chunk (0: no speculation)
  bool resumed = false;          // an existing session was found (cached_positions may be 0)
  // Non-terminal problems (parameters clamped to limits), sent before Ready.
  std::vector<absl::Status> notices;
};

// Which stream a session is attached to. A newer Open of the same session id takes the
// session over and makes the older attachment's calls fail with Aborted.
struct Attachment {
  std::string session_id;
  uint64_t generation = 0;
};

// HiddenChunk. `payload` is a view into the caller's message.
struct ChunkRequest {
  int32_t start_position = 0;
  int32_t num_positions = 0;
  CodecKind codec = CodecKind::kF32;
  std::string_view payload;
  uint32_t payload_crc32c = 0;
  bool sample = false;
  // Speculative decoding: the draft's tokens for the chunk's last positions (a view into
  // the caller's message); the step accepts the longest prefix it would have sampled.
  absl::Span<const int32_t> draft_tokens;
};

// How the scheduler ran a step (for metrics).
struct StepTiming {
  absl::Duration queue_wait;  // from arrival to its first batch
  int32_t batch_rows = 0;     // positions in the batch that finished it
  int32_t batch_sessions = 0;
  bool deadline_missed = false;  // a token came later than the session's target
  uint64_t batch_seq = 0;        // which of the scheduler's batches finished it (1, 2, ...)
};

struct StepReply {
  int32_t cached_positions = 0;       // after the step
  std::optional<SampledToken> token;  // set iff the chunk asked to sample
  StepTiming timing;
};

enum class ServingState { kServing, kDraining };

// Health.
struct WorkerStatus {
  ServingState state = ServingState::kServing;
  std::string model_id;
  int32_t n_layers = 0;
  int32_t hidden_dim = 0;
  int32_t first_layer = 0;
  std::vector<CodecKind> codecs;
  int32_t sessions = 0;           // held: attached or resumable
  int32_t attached_sessions = 0;  // with a live stream
  int32_t max_sessions = 0;
  int32_t max_context = 0;
  int64_t kv_bytes_in_use = 0;
  int64_t kv_budget_bytes = 0;
};

}  // namespace tandem::cloud
