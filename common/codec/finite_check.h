// Finiteness check over hidden[n, dim] with an error that points at the bad element.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace tandem {

// OK if every value is finite; otherwise InvalidArgument
// "<what>: non-finite value nan at row R, channel C" for the first bad value.
absl::Status CheckFinite(absl::Span<const float> values, int32_t dim, std::string_view what);

}  // namespace tandem
