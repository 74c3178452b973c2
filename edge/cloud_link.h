// The edge's view of a cloud worker, free of gRPC types: open a generation session, send
// hidden-state chunks, receive sampled tokens. Implemented over gRPC (grpc_cloud_link.h)
// and, for tests, in process over a real worker
// (tests/util/in_process_cloud_link.h). The fields mean what the wire contract
// (proto/tandem/v1/tandem.proto) says.
//
// Every blocking call takes a deadline and returns by then: DeadlineExceeded if the worker
// did not answer in time, Unavailable if the link is down; both mean "retry elsewhere or
// fall back". A stream whose call failed is broken; open a new one (with resume_position
// to continue a session).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/codec/codec_kind.h"
#include "common/sampler/sampled_token.h"
#include "common/sampler/sampler.h"

namespace tandem::edge {

// Hello.
struct SessionHello {
  std::string session_id;
  std::string model_id;
  int32_t n_layers = 0;
  int32_t split_layer = 0;  // K: the edge runs [0, K), the worker [K, N)
  int32_t hidden_dim = 0;
  CodecKind codec = CodecKind::kQ8;
  SamplingParams sampling;
  int32_t resume_position = 0;  // positions the edge believes the worker has cached
  int32_t max_context = 0;
  // Per-token latency target (InfiniteDuration: none): the worker orders its batches by
  // it and refuses the session at once if it cannot meet it.
  absl::Duration token_deadline = absl::InfiniteDuration();
  // Alternatives asked for with each Token; > 0 also makes the worker compute the
  // token's own logprob (0: no logprobs at all).
  int32_t top_logprobs = 0;
};

// Ready.
struct SessionReady {
  int32_t cached_positions = 0;  // the next chunk starts here
  int32_t max_chunk_positions = 0;
  int64_t max_chunk_bytes = 0;
  std::vector<CodecKind> codecs;  // accepted in chunks
  int32_t max_context = 0;        // positions granted (0: not said, the edge's own limit)
  int32_t max_top_logprobs = 0;   // upper bound for SessionHello.top_logprobs
  int32_t max_draft_tokens = 0;   // draft tokens verified per chunk (0: no speculation)
};

// HiddenChunk: encoded hidden states at the cut for positions
// [start_position, start_position + num_positions).
struct HiddenChunk {
  int32_t start_position = 0;
  int32_t num_positions = 0;
  CodecKind codec = CodecKind::kQ8;
  std::string payload;
  bool sample = false;  // ask for the token after the chunk's last position
  // Speculative decoding: the draft's tokens at the chunk's last positions, for the worker
  // to verify (only with `sample`, at most SessionReady::max_draft_tokens).
  std::vector<int32_t> draft_tokens;
};

// Bytes on the wire, as the transport counts them (whole messages, not just payloads).
struct LinkBytes {
  int64_t sent = 0;
  int64_t received = 0;
};

// One open session. Calls are made from one thread at a time.
class CloudStream {
 public:
  virtual ~CloudStream() = default;  // cancels the stream if still open

  virtual const SessionReady& ready() const = 0;
  // Hands a chunk to the transport.
  virtual absl::Status Send(const HiddenChunk& chunk, absl::Time deadline) = 0;
  // The next token (for the next chunk sent with `sample`).
  virtual absl::StatusOr<SampledToken> Receive(absl::Time deadline) = 0;
  // Ends the session for good (the worker frees it) and the stream.
  virtual absl::Status Close(absl::Time deadline) = 0;
  virtual LinkBytes bytes() const = 0;
};

class CloudLink {
 public:
  virtual ~CloudLink() = default;
  // Sends Hello and waits for Ready.
  virtual absl::StatusOr<std::unique_ptr<CloudStream>> Open(const SessionHello& hello,
                                                            absl::Time deadline) = 0;
  // OK if a worker is reachable and serving (a cheap probe).
  virtual absl::Status Probe(absl::Time deadline) = 0;
};

}  // namespace tandem::edge
