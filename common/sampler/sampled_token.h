// A token the worker sampled after a chunk: the worker's Token reply and what the edge
// receives, free of protobuf types.
#pragma once

#include <cstdint>
#include <vector>

#include "common/sampler/logprobs.h"

namespace tandem {

struct SampledToken {
  int32_t position = 0;  // last position of the chunk; the token belongs at position + 1
  int32_t token_id = 0;
  // With top_logprobs asked for in Hello: the token's log probability and the most likely
  // tokens, most likely first (LogprobOf); else 0 and empty.
  float logprob = 0;
  std::vector<TokenLogprob> top_logprobs;
  // Speculative decoding: draft tokens the worker accepted before this one (position is
  // then the last accepted one's).
  int32_t accepted_drafts = 0;
};

}  // namespace tandem
