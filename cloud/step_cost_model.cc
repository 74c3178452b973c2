#include "cloud/step_cost_model.h"

#include <algorithm>

namespace tandem::cloud {

void StepCostModel::Observe(int32_t rows, absl::Duration duration) {
  if (rows < 1) return;
  absl::MutexLock lock(&mu_);
  Mean& m = by_rows_[rows];
  // A mean over the last ~32 batches of this size: follows load changes, ignores one-offs.
  const double weight = 1.0 / static_cast<double>(std::min<int64_t>(++m.count, 32));
  m.seconds += weight * (absl::ToDoubleSeconds(duration) - m.seconds);
}

void StepCostModel::Clear() {
  absl::MutexLock lock(&mu_);
  by_rows_.clear();
}

std::optional<absl::Duration> StepCostModel::Predict(int32_t rows) const {
  absl::MutexLock lock(&mu_);
  if (by_rows_.empty()) return std::nullopt;
  if (auto it = by_rows_.find(rows); it != by_rows_.end()) return absl::Seconds(it->second.seconds);
  if (by_rows_.size() == 1) return absl::Seconds(by_rows_.begin()->second.seconds);
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [x, m] : by_rows_) {
    n += 1;
    sx += x;
    sy += m.seconds;
    sxx += static_cast<double>(x) * x;
    sxy += x * m.seconds;
  }
  const double slope = std::max(0.0, (n * sxy - sx * sy) / (n * sxx - sx * sx));
  const double intercept = (sy - slope * sx) / n;
  return absl::Seconds(std::max(0.0, intercept + slope * rows));
}

}  // namespace tandem::cloud
