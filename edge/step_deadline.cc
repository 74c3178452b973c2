#include "edge/step_deadline.h"

#include <algorithm>

namespace tandem::edge {

void StepDeadline::Observe(absl::Duration latency) {
  latency = std::max(latency, absl::ZeroDuration());
  if (!measured_) {
    // RFC 6298 2.2: the first measurement sets SRTT = R, RTTVAR = R / 2.
    smoothed_ = latency;
    deviation_ = latency / 2;
    measured_ = true;
    return;
  }
  // RFC 6298 2.3 with alpha = 1/8, beta = 1/4.
  deviation_ = deviation_ * 0.75 + absl::AbsDuration(smoothed_ - latency) * 0.25;
  smoothed_ = smoothed_ * 0.875 + latency * 0.125;
}

absl::Duration StepDeadline::decode() const {
  if (!measured_) return options_.ceiling;
  const absl::Duration d = std::max(smoothed_ * 2, smoothed_ + deviation_ * 4);
  return std::clamp(d, options_.floor, options_.ceiling);
}

absl::Duration StepDeadline::per_chunk(int32_t positions) const {
  if (!measured_) return options_.ceiling;
  if (positions <= 1) return decode();
  return decode() * options_.chunk_factor;
}

}  // namespace tandem::edge
