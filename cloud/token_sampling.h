// Turning the logits after a position into the reply's token: the draw (SampleAt, shared
// with the edge's fallback model in common/sampler/position_sampling.h) and its logprobs.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "common/sampler/position_sampling.h"
#include "common/sampler/sampler.h"

namespace tandem::cloud {

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;  // natural log, unfiltered distribution at temperature 1
};

// The log-softmax of `logits` (temperature 1) at `token`, and, if k > 0, the k most likely
// tokens, most likely first (ties: lower id first). logits must be non-empty.
float LogprobOf(absl::Span<const float> logits, int32_t token, int32_t k,
                std::vector<TokenLogprob>* top);

}  // namespace tandem::cloud
