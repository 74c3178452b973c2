// Row conversion between float and the supported storage types (scalar reference code;
// also used by `tandem quantize`). Rows must hold a multiple of the type's block size.
#pragma once

#include <cstdint>

#include "common/tensor/ggml_type.h"

namespace tandem {

// Writes RowBytes(type, n) bytes to `dst`. Rounding as ggml's reference quantizers
// (Q8_0: d = amax/127, q = round(x/d); Q4_0: d = max/-8 of the value with largest |x|;
// the K-quants: ggml's quantize_row_q*_K_ref), so files match llama-quantize's.
void QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n);

// Reads RowBytes(type, n) bytes from `src` into n floats.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);

}  // namespace tandem
