// IEEE binary16 <-> float conversions, one implementation for the engine (weights, the
// scalar kernels; the AVX2 kernels use F16C directly, bit-identical) and the hidden-state
// codecs. Inline and branch-free so that per-value loops vectorize. Round to nearest
// even, checked bit for bit against the compiler's _Float16 and F16C in the tests.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

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
  // NaN: quiet, keeping the top payload bits (as F16C does).
  h = ((0x7e00u | ((x >> 13) & 0x3ffu)) & is_nan) | (h & ~is_nan);
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

namespace tandem {

// The engine's names for the same conversions.
inline float Fp16ToFp32(uint16_t h) { return half::ToFloat(h); }
inline uint16_t Fp32ToFp16(float f) { return half::FromFloat(f); }

// bfloat16: the top half of a float. Rounds to nearest even; NaN stays a (quiet) NaN,
// as ggml's conversion does.
inline float Bf16ToFp32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
inline uint16_t Fp32ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  if ((u & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((u >> 16) | 64);
  return static_cast<uint16_t>((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

}  // namespace tandem
