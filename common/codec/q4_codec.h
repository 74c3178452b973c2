// q4: 4-bit codes with two-level block scales, plus outlier channels kept at f16.
//
// LLaMA-family hidden states carry a few "massive activation" channels, orders of
// magnitude above the rest; a block holding one would quantize its other values to noise.
// So each row first sets aside its k largest-|x| channels, k = max(1, dim / 64), as
// (u16 channel, f16 value) pairs, zeroes them, and quantizes the row in WireQ4Blocks.
// Row layout: k WireQ4Outliers (channels strictly increasing), then dim / 64 WireQ4Blocks
// and, if dim % 64 == 32, one WireQ4HalfBlock: 4k + 40 dim/64 bytes, i.e. 5.0 + 32k/dim
// bits/value (5.5 when 64 divides dim).
//
// Block quantization: 64 values share an f16 scale d; each sub-block of 4 values scales it
// by 2^(-c/6) (3-bit c), so small sub-blocks next to large ones keep their precision; the
// 16 levels are symmetric and non-uniform (q4_tables.h). The encoder searches: d among
// f16(amax * 2^(-j/24)), j = 0..3, and for each sub-block every c, each value taking its
// nearest level; it keeps the least squared error. Error bound, from the fallback c = 0
// (whose worst case is half the widest gap between levels, 0.1332 d, since the top level d
// is at least 0.917 amax): a sub-block's squared error is <= 4 (0.1332 d)^2, so every value
// is within 0.2664 d of its input; a block's squared error is <= n (0.1332 f16(amax))^2.
// Measured on stories260K by tests/bench/split_fidelity: ~3x less squared error and
// ~3.7x lower KL than the former Q4_0-style blocks of 32 (5.0 bits/value); encoding costs
// ~75 ns per value (the search), decoding ~2 ns.
//
// dim must be a multiple of 32 and at most 65536 (u16 channel indices); values other than
// the outliers must be within the f16 range (+-65504).
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
           static_cast<size_t>(dim / kQ4SuperBlock) * sizeof(WireQ4Block) +
           (dim % kQ4SuperBlock != 0 ? sizeof(WireQ4HalfBlock) : 0);
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
