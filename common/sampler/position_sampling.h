// Position-keyed sampling: the draw for the token after a position depends only on the
// sampling seed and that position, not on how many draws came before. The cloud worker
// and the edge's fallback model both sample this way, so a session that is resumed,
// replayed, rewound or moved between the cloud and the device draws the same token at the
// same position from the same logits.
#pragma once

#include <cstdint>

#include "absl/types/span.h"
#include "common/sampler/sampler.h"

namespace tandem {

// Samples the token that follows `position` from `logits` with `params` (see Sampler),
// the generator seeded from (params.seed, position).
int32_t SampleAt(const SamplingParams& params, int32_t position, absl::Span<const float> logits);

}  // namespace tandem
