// Turning the logits after a position into the reply's token: the draw (SampleAt, shared
// with the edge's fallback model in common/sampler/position_sampling.h) and its logprobs
// (LogprobOf, shared with `tandem generate` in common/sampler/logprobs.h).
#pragma once

#include "common/sampler/logprobs.h"
#include "common/sampler/position_sampling.h"
#include "common/sampler/sampler.h"

namespace tandem::cloud {

using ::tandem::LogprobOf;
using ::tandem::TokenLogprob;

}  // namespace tandem::cloud
