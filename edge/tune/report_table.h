// The tuner's table: one row per (K, codec) with the predicted per-token latency and its
// parts, the time to first token, device memory and bytes per token; marks for the
// recommendation and for rows that break a constraint.
#pragma once

#include <ostream>
#include <vector>

#include "edge/tune/cost_model.h"

namespace tandem::tune {

// Marks: "*" recommended, "x" over the memory budget or under the minimum device
// layers, "-" slower than the latency target. With `speculation` (a draft model was
// measured) a last column gives the time per token with the best draft length.
void WriteTable(const std::vector<Prediction>& predictions, const Constraints& constraints,
                const Recommendation& recommendation, std::ostream& out, bool speculation = false);

}  // namespace tandem::tune
