#include "common/codec/f16_codec.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/codec/half.h"
#include "common/codec/wire_blocks.h"  // little-endian host check

namespace tandem {
namespace {

// Chunk of values converted through a stack buffer (keeps the loops simple and
// vectorizable without a heap scratch buffer).
constexpr size_t kChunk = 256;

}  // namespace

absl::Status F16Codec::EncodeRows(absl::Span<const float> hidden, int32_t n, int32_t dim,
                                  char* out) const {
  uint16_t buf[kChunk];
  for (size_t start = 0; start < hidden.size(); start += kChunk) {
    const size_t count = std::min(kChunk, hidden.size() - start);
    bool overflow = false;
    for (size_t i = 0; i < count; ++i) {
      buf[i] = half::FromFloat(hidden[start + i]);
      overflow |= half::IsNonFinite(buf[i]);  // inputs are finite: Inf means overflow
    }
    if (overflow) {
      for (size_t i = 0; i < count; ++i) {
        if (!half::IsNonFinite(buf[i])) continue;
        const size_t at = start + i;
        return absl::InvalidArgumentError(absl::StrCat(
            "f16 encode: value ", hidden[at], " at row ", at / static_cast<size_t>(dim),
            ", channel ", at % static_cast<size_t>(dim), " exceeds the f16 range (+-65504)"));
      }
    }
    std::memcpy(out + 2 * start, buf, 2 * count);
  }
  return absl::OkStatus();
}

absl::Status F16Codec::DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                                  absl::Span<float> out) const {
  uint16_t buf[kChunk];
  for (size_t start = 0; start < out.size(); start += kChunk) {
    const size_t count = std::min(kChunk, out.size() - start);
    std::memcpy(buf, payload.data() + 2 * start, 2 * count);
    bool bad = false;
    for (size_t i = 0; i < count; ++i) {
      out[start + i] = half::ToFloat(buf[i]);
      bad |= half::IsNonFinite(buf[i]);
    }
    if (bad) {
      for (size_t i = 0; i < count; ++i) {
        if (!half::IsNonFinite(buf[i])) continue;
        const size_t at = start + i;
        return absl::InvalidArgumentError(absl::StrCat(
            "f16 payload: non-finite value ", out[at], " at row ", at / static_cast<size_t>(dim),
            ", channel ", at % static_cast<size_t>(dim)));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tandem
