// IEEE half <-> float conversion (portable; the F16C instructions are used by the
// AVX2 kernels directly).
#pragma once

#include <cstdint>

namespace tandem {

float Fp16ToFp32(uint16_t h);
uint16_t Fp32ToFp16(float f);  // round to nearest even, as F16C and ggml do

}  // namespace tandem
