// Per-block arithmetic of the quantizers, written so that GCC vectorizes it on baseline
// x86-64 without -ffast-math (std::nearbyint needs SSE4.1 roundps; a std::max reduction
// over floats is not reassociated).
#pragma once

#include <bit>
#include <cstdint>

namespace tandem {

// Round to nearest, ties to even, for |x| < 2^22: adding 1.5 * 2^23 leaves no fraction
// bits, so the FPU rounds (in its default mode); subtracting restores the magnitude.
// Needs IEEE float semantics (no -ffast-math, which would fold the two operations).
inline float RoundNearestEven(float x) {
  constexpr float kMagic = 0x1.8p23f;
  return (x + kMagic) - kMagic;
}

// max |x[i]| over finite values: the bit patterns of non-negative floats order like the
// floats, so an integer max reduction does it.
inline float MaxAbs(const float* x, int count) {
  int32_t max_bits = 0;
  for (int i = 0; i < count; ++i) {
    const int32_t bits = std::bit_cast<int32_t>(x[i]) & 0x7fffffff;
    max_bits = bits > max_bits ? bits : max_bits;
  }
  return std::bit_cast<float>(max_bits);
}

}  // namespace tandem
