// Small statistics for timings (benchmarks, profilers, the tuner).
#pragma once

#include <algorithm>
#include <vector>

namespace tandem {

// The median of `v` (the mean of the middle two for an even count); 0 if empty.
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

}  // namespace tandem
