// q4: 4-bit blocks plus outlier channels kept at f16.
//
// LLaMA-family hidden states carry a few "massive activation" channels, orders of
// magnitude above the rest; a 4-bit block holding one would quantize its other 31 values
// to zero. So each row first sets aside its k largest-|x| channels, k = max(1, dim / 64),
// as (u16 channel, f16 value) pairs, zeroes them, and quantizes the row in WireQ4Blocks.
// Row layout: k WireQ4Outliers (channels strictly increasing), then dim/32 WireQ4Blocks:
// 4k + 18 dim/32 bytes, i.e. 4.5 + 32k/dim bits/value (5.0 when 64 divides dim).
//
// Block quantization, as ggml's Q4_0: the value m of largest magnitude sets d = m / -8
// (rounded away from zero to f16), codes are round(x/d) clamped to [-8, 7], stored +8. Error <= |d|
// = amax/8 (the clamp at +7 only hits values of the opposite sign to m), <= |d|/2 for the rest;
// outliers carry f16 rounding only. On synthetic rows this beats a symmetric [-7, 7] code by ~20%
// in squared error and an asymmetric min+scale block (5 bits) at equal total bits.
//
// dim must be a multiple of 32 and at most 65536 (u16 channel indices).
#pragma once

#include <algorithm>

#include "common/codec/hidden_codec.h"
#include "common/codec/wire_blocks.h"

namespace tandem {

// The protocol's outlier count is max(1, dim / kQ4OutlierDivisor) per row.
inline constexpr int32_t kQ4OutlierDivisor = 64;

class Q4Codec final : public HiddenCodec {
 public:
  // Rows keep max(1, dim / outlier_divisor) outliers, or none if outlier_divisor is 0
  // (plain 4-bit blocks). Both ends must agree: the wire protocol's q4 is the default.
  explicit Q4Codec(int32_t outlier_divisor = kQ4OutlierDivisor)
      : outlier_divisor_(outlier_divisor) {}

  CodecKind kind() const override { return CodecKind::kQ4; }
  int32_t OutlierCount(int32_t dim) const {
    return outlier_divisor_ == 0 ? 0 : std::max<int32_t>(1, dim / outlier_divisor_);
  }
  size_t RowBytes(int32_t dim) const override {
    return static_cast<size_t>(OutlierCount(dim)) * sizeof(WireQ4Outlier) +
           static_cast<size_t>(dim / kCodecBlock) * sizeof(WireQ4Block);
  }

 protected:
  absl::Status CheckDim(int32_t dim) const override;
  absl::Status EncodeRows(absl::Span<const float> hidden, int32_t n, int32_t dim,
                          char* out) const override;
  absl::Status DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                          absl::Span<float> out) const override;

 private:
  int32_t outlier_divisor_;
};

}  // namespace tandem
