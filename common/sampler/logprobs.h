// Log probabilities of the next token: what `tandem generate --logprobs`, the worker's
// Token replies and the edge's OpenAI `logprobs` report.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace tandem {

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;  // natural log, unfiltered distribution at temperature 1
};

// The log-softmax of `logits` (temperature 1) at `token`, and, if k > 0, the k most likely
// tokens, most likely first (ties: lower id first). logits must be non-empty.
float LogprobOf(absl::Span<const float> logits, int32_t token, int32_t k,
                std::vector<TokenLogprob>* top);

}  // namespace tandem
