// IEEE half <-> float conversion (portable; the F16C instructions are used by the
// AVX2 kernels directly).
#pragma once

#include <cstdint>
#include <cstring>

namespace tandem {

float Fp16ToFp32(uint16_t h);
uint16_t Fp32ToFp16(float f);  // round to nearest even, as F16C and ggml do

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
