// IEEE binary16 <-> float conversions for the codecs, inline so the per-value loops can
// be vectorized (common/util/fp16 is out of line). Round to nearest even, checked bit for
// bit against the compiler's _Float16 in the tests.
#pragma once

#include <bit>
#include <cstdint>

namespace tandem::half {

inline constexpr uint16_t kInf = 0x7c00;
inline constexpr float kMax = 65504.0f;  // largest finite half

// True for Inf and NaN halves (exponent all ones).
inline bool IsNonFinite(uint16_t h) { return (h & 0x7c00) == 0x7c00; }

// Rounds to nearest even. Values of magnitude >= 65520 become Inf; NaN stays NaN (quiet).
// Branch-free (every case computed, then selected) so that loops over it vectorize.
inline uint16_t FromFloat(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const uint32_t x = bits & 0x7fffffff;
  // Normal: drop 13 mantissa bits rounding to nearest even (a carry may bump the
  // exponent, which is still correct), then rebias the exponent from 127 to 15.
  const uint32_t normal = (x + 0xfff + ((x >> 13) & 1) - (112u << 23)) >> 13;
  // Below the smallest normal half (2^-14) the result is a multiple of 2^-24. Adding
  // 0.5f, whose ulp is 2^-24, makes the FPU do the rounding; the sum's mantissa then
  // counts units of 2^-24 (1024 = the smallest normal, encoded the same).
  const uint32_t subnormal = std::bit_cast<uint32_t>(std::bit_cast<float>(x) + 0.5f) - 0x3f000000u;
  // Selects as masks: GCC does not if-convert the equivalent ?: chain.
  const uint32_t is_subnormal = 0u - static_cast<uint32_t>(x < 0x38800000u);
  const uint32_t is_inf = 0u - static_cast<uint32_t>(x >= 0x477ff000u);  // or rounds to Inf
  const uint32_t is_nan = 0u - static_cast<uint32_t>(x > 0x7f800000u);
  uint32_t h = (subnormal & is_subnormal) | (normal & ~is_subnormal);
  h = (kInf & is_inf) | (h & ~is_inf);
  h = (0x7e00u & is_nan) | (h & ~is_nan);
  return static_cast<uint16_t>(sign | h);
}

// Exact. Branch-free like FromFloat.
inline float ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t bits = static_cast<uint32_t>(h & 0x7fff) << 13;
  // Placing the half's exponent and mantissa in a float and multiplying by 2^112 rebias
  // normals and subnormals alike; Inf/NaN need the float's all-ones exponent instead.
  bits |= (h & 0x7c00) == 0x7c00 ? 0x7f800000u : 0u;
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
