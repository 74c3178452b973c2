#include "common/codec/finite_check.h"

#include <bit>
#include <cmath>

#include "absl/strings/str_format.h"

namespace tandem {

absl::Status CheckFinite(absl::Span<const float> values, int32_t dim, std::string_view what) {
  // Fast path without branches (vectorizes): the largest magnitude bit pattern is >= the
  // Inf pattern iff some value is Inf or NaN.
  uint32_t max_magnitude = 0;
  for (float v : values) {
    const uint32_t magnitude = std::bit_cast<uint32_t>(v) & 0x7fffffffu;
    max_magnitude = magnitude > max_magnitude ? magnitude : max_magnitude;
  }
  if (max_magnitude < 0x7f800000u) return absl::OkStatus();
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: non-finite value %g at row %d, channel %d", what, values[i],
                          i / static_cast<size_t>(dim), i % static_cast<size_t>(dim)));
    }
  }
  return absl::OkStatus();
}

}  // namespace tandem
