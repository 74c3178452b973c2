// Half -> float lookup table for the quantized inner loops: one load per block scale
// instead of a move to a vector register and a convert.
#pragma once

namespace tandem {

// 65536 floats, entry h = Fp16ToFp32(h). Built on first use (thread-safe).
const float* Fp16ToFp32Table();

}  // namespace tandem
