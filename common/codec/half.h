// IEEE binary16 <-> float conversions for the codecs, inline so the per-value loops can
// be vectorized. Own copy rather than common/util/fp16 (not implemented when the codecs
// were written, and out of line); both round to nearest even and must agree bit for bit
// (tested).
#pragma once

#include <bit>
#include <cstdint>

namespace tandem::half {

inline constexpr uint16_t kInf = 0x7c00;
inline constexpr float kMax = 65504.0f;  // largest finite half

// True for Inf and NaN halves (exponent all ones).
inline bool IsNonFinite(uint16_t h) { return (h & 0x7c00) == 0x7c00; }

// Rounds to nearest even. Values of magnitude >= 65520 become Inf; NaN stays NaN (quiet).
inline uint16_t FromFloat(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7fffffff;
  if (x >= 0x7f800000) return sign | (x > 0x7f800000 ? 0x7e00 : kInf);  // Inf, NaN
  if (x >= 0x477ff000) return sign | kInf;                              // rounds past 65504
  if (x < 0x38800000) {
    // Below the smallest normal half (2^-14): a multiple of 2^-24. Adding 0.5f, whose
    // ulp is 2^-24, makes the FPU do the round-to-nearest-even for us; the mantissa of
    // the sum then counts units of 2^-24 (1024 = smallest normal, encoded the same).
    const float sum = std::bit_cast<float>(x) + 0.5f;
    return sign | static_cast<uint16_t>(std::bit_cast<uint32_t>(sum) - 0x3f000000u);
  }
  // Normal: drop 13 mantissa bits rounding to nearest even (a carry may bump the
  // exponent, which is still correct), then rebias the exponent from 127 to 15.
  x += 0xfff + ((x >> 13) & 1);
  return sign | static_cast<uint16_t>((x - (112u << 23)) >> 13);
}

// Exact.
inline float ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t bits = static_cast<uint32_t>(h & 0x7fff) << 13;
  // Placing the half's exponent and mantissa in a float and multiplying by 2^112 rebias
  // normals and subnormals alike; Inf/NaN need the float's all-ones exponent instead.
  if ((h & 0x7c00) == 0x7c00) bits |= 0x7f800000;
  const float magnitude = std::bit_cast<float>(bits) * 0x1p112f;
  return std::bit_cast<float>(std::bit_cast<uint32_t>(magnitude) | sign);
}

// The half nearest to |f| that is >= |f|, with f's sign: a block scale rounded this way
// never makes |x / scale| exceed the code range. Inf if |f| > 65504.
inline uint16_t FromFloatAwayFromZero(float f) {
  uint16_t h = FromFloat(f);
  const float back = ToFloat(h);
  if (!IsNonFinite(h) && (back < 0 ? -back : back) < (f < 0 ? -f : f)) ++h;
  return h;
}

}  // namespace tandem::half
