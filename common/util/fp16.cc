#include "common/util/fp16.h"

#include <cstdint>
#include <cstring>

namespace tandem {
namespace {

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

inline float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// Shifts `value` right by `shift` (>= 1), rounding to nearest, ties to even.
inline uint32_t ShiftRightRne(uint32_t value, int shift) {
  const uint32_t kept = value >> shift;
  const uint32_t rest = value & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  return kept + ((rest > half || (rest == half && (kept & 1))) ? 1 : 0);
}

}  // namespace

float Fp16ToFp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float.
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return BitsFloat(FloatBits(v) | sign);
  }
  if (exp == 31) return BitsFloat(sign | 0x7f800000 | (mant << 13));  // inf / nan (payload kept)
  return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t Fp32ToFp16(float f) {
  const uint32_t x = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) {
    if (abs == 0x7f800000) return sign | 0x7c00;
    // NaN: keep the top payload bits and make it quiet, as F16C does.
    return static_cast<uint16_t>(sign | 0x7e00 | ((abs >> 13) & 0x3ff));
  }
  if (abs >= 0x38800000) {
    // Normal half range (or overflow): rebias the exponent, round the mantissa; a carry
    // out of the mantissa correctly bumps the exponent (up to infinity).
    const uint32_t h = ShiftRightRne(abs - 0x38000000, 13);
    return static_cast<uint16_t>(sign | (h >= 0x7c00 ? 0x7c00 : h));
  }
  if (abs < 0x33000000) return sign;  // below half the smallest subnormal (ties go to 0)
  // Subnormal half: value * 2^24 rounded; the result may round up to the smallest normal.
  const uint32_t mant = (abs & 0x7fffff) | 0x800000;
  const int shift = 126 - static_cast<int>(abs >> 23);  // in [14, 24]
  return static_cast<uint16_t>(sign | ShiftRightRne(mant, shift));
}

}  // namespace tandem
