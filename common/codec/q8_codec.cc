#include "common/codec/q8_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/codec/quant_math.h"
#include "common/util/fp16.h"

namespace tandem {

absl::Status Q8Codec::CheckDim(int32_t dim) const {
  if (dim % kCodecBlock != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("q8 needs a hidden dim that is a multiple of ", kCodecBlock, ", got ", dim));
  }
  return absl::OkStatus();
}

absl::Status Q8Codec::EncodeRows(absl::Span<const float> hidden, int32_t n, int32_t dim,
                                 char* out) const {
  const size_t blocks = hidden.size() / kCodecBlock;
  for (size_t b = 0; b < blocks; ++b) {
    const float* x = hidden.data() + b * kCodecBlock;
    const float amax = MaxAbs(x, kCodecBlock);

    WireQ8Block block;
    block.d = half::FromFloatAwayFromZero(amax / 127.0f);
    if (half::IsNonFinite(block.d)) {
      const size_t row = b * kCodecBlock / static_cast<size_t>(dim);
      return absl::InvalidArgumentError(absl::StrCat("q8 encode: row ", row, " block ",
                                                     b - row * (dim / kCodecBlock), " has |value| ",
                                                     amax, " beyond the q8 range (127 * 65504)"));
    }
    const float d = half::ToFloat(block.d);
    const float inv_d = d > 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < kCodecBlock; ++i) {
      // d >= amax / 127, so |x * inv_d| <= 127 up to one rounding; clamp for that ulp.
      const float q = RoundNearestEven(x[i] * inv_d);
      block.qs[i] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
    }
    std::memcpy(out + b * sizeof(WireQ8Block), &block, sizeof(block));
  }
  return absl::OkStatus();
}

absl::Status Q8Codec::DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                                 absl::Span<float> out) const {
  const size_t blocks = out.size() / kCodecBlock;
  for (size_t b = 0; b < blocks; ++b) {
    WireQ8Block block;
    std::memcpy(&block, payload.data() + b * sizeof(WireQ8Block), sizeof(block));
    if (half::IsNonFinite(block.d)) {
      const size_t row = b * kCodecBlock / static_cast<size_t>(dim);
      return absl::InvalidArgumentError(absl::StrCat("q8 payload: non-finite scale at row ", row,
                                                     " block ", b - row * (dim / kCodecBlock)));
    }
    // |d| <= 65504 and |q| <= 128, so every decoded value is finite.
    const float d = half::ToFloat(block.d);
    float* y = out.data() + b * kCodecBlock;
    for (int i = 0; i < kCodecBlock; ++i) y[i] = d * static_cast<float>(block.qs[i]);
  }
  return absl::OkStatus();
}

}  // namespace tandem
