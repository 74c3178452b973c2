// Turning the logits after a position into the reply's token: the draw and its logprobs.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "common/sampler/sampler.h"

namespace tandem::cloud {

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;  // natural log, unfiltered distribution at temperature 1
};

// Samples the token that follows `position`. The draw depends only on (params.seed,
// position), not on how many draws the session made before (the wire contract), so a
// resumed, rewound or replayed session samples the same token at the same position.
int32_t SampleAt(const SamplingParams& params, int32_t position, absl::Span<const float> logits);

// The log-softmax of `logits` (temperature 1) at `token`, and, if k > 0, the k most likely
// tokens, most likely first (ties: lower id first). logits must be non-empty.
float LogprobOf(absl::Span<const float> logits, int32_t token, int32_t k,
                std::vector<TokenLogprob>* top);

}  // namespace tandem::cloud
