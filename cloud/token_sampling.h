// The logprobs of a reply's token (LogprobOf, shared with `tandem generate` in
// common/sampler/logprobs.h); the draw itself is the shared Sampler (common/sampler/sampler.h).
#pragma once

#include "common/sampler/logprobs.h"
#include "common/sampler/sampler.h"

namespace tandem::cloud {

using ::tandem::LogprobOf;
using ::tandem::TokenLogprob;

}  // namespace tandem::cloud
