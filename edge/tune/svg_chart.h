// An SVG chart of the predictions against K: per-token latency for each codec (left
// axis) and device memory (right axis), the latency target and memory budget as dashed
// lines, and the recommendation circled. Self-contained SVG 1.1, no scripts or fonts.
#pragma once

#include <string>
#include <vector>

#include "edge/tune/cost_model.h"

namespace tandem::tune {

std::string LatencyMemoryChart(const std::vector<Prediction>& predictions,
                               const Constraints& constraints, const Recommendation& recommendation,
                               const std::string& title);

}  // namespace tandem::tune
