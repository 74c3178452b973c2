// Per-type row quantizers behind QuantizeRow / DequantizeRow. Not a public API.
#pragma once

#include <cstdint>

#include "common/tensor/quant_blocks.h"

namespace tandem::quantize_internal {

// ggml's nearest_int: round to nearest, ties to even, for |x| < 2^22.
int NearestInt(float x);

// The 32 five-bit quants of a Q5_0 / Q5_1 block (low nibbles qs, fifth bits qh).
void Unpack5(const uint8_t* qs, const uint8_t* qh, int* q);

// K-quants (quantize_kquants.cc), as ggml's quantize_row_*_ref; n is a multiple of 256.
void QuantizeQ4_K(const float* x, BlockQ4_K* y, int64_t n);
void QuantizeQ5_K(const float* x, BlockQ5_K* y, int64_t n);
void QuantizeQ6_K(const float* x, BlockQ6_K* y, int64_t n);
void DequantizeQ4_K(const BlockQ4_K* x, float* y, int64_t n);
void DequantizeQ5_K(const BlockQ5_K* x, float* y, int64_t n);
void DequantizeQ6_K(const BlockQ6_K* x, float* y, int64_t n);

}  // namespace tandem::quantize_internal
