// Pieces shared by the MatMul kernel sets (scalar, AVX2, NEON). Not a public API.
//
// Batch invariance, the rule for every kernel set and weight type: row t of MatMul's y is
// bit-identical to what MatMul gives for row t of x alone (n == 1), whatever n and t are,
// so a position's result does not depend on whether it was decoded, computed in a prompt
// chunk, or batched with other sessions' positions. Each kernel set fixes one reduction
// order per output element and uses it on both its n == 1 and n > 1 paths.
#pragma once

#include <cstdint>

#include "common/kernels/matmul.h"
#include "common/tensor/quant_blocks.h"
#include "common/util/thread_pool.h"

namespace tandem::matmul_internal {

// Quantizes one activation row to Q8_0 for dot products with quantized weights:
// d = amax / 127 (stored as half), q = x * (127 / amax) rounded half to even. Every
// kernel set produces bit-identical blocks. cols is a multiple of 32.
void QuantizeActivationRow(const float* x, int64_t cols, BlockQ8_0* out);

// Scalar dot products of one weight row with one activation row: the reference twins
// of the SIMD kernels. Quantized: sum over blocks of d_w * d_x * (exact int dot).
float DotF32(const float* w, const float* x, int64_t n);
float DotF16(const uint16_t* w, const float* x, int64_t n);
float DotQ8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t nb);
float DotQ4_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t nb);

// The portable kernel set: scalar dots, parallel over rows when `pool` is set.
void MatMulScalar(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool* pool);

namespace avx2 {
// Same contract as tandem::MatMul; only call when CpuHasAvx2Fma().
void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);
void QuantizeActivationRow(const float* x, int64_t cols, BlockQ8_0* out);
// Whether MatMul has a matrix-matrix kernel for `type` (else prompts run row by row).
bool GemmSupported(GgmlType type);
}  // namespace avx2

namespace avx512 {
// Prompt processing (n > 1) with AVX-512 VNNI for the weight types GemmSupported()
// accepts; only call when KernelCpuIsa() is kAvx512Vnni. Bit-identical to the AVX2 GEMM.
bool GemmSupported(GgmlType type);
void Gemm(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);
}  // namespace avx512

namespace neon {
// Same contract as tandem::MatMul (aarch64); picks the dotprod rows at run time.
void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);
void QuantizeActivationRow(const float* x, int64_t cols, BlockQ8_0* out);

namespace dotprod {
// y[t * w.rows + r] for rows [r0, r1) and all n tokens of a Q8_0 / Q4_0 matrix (rows
// row_bytes apart) against the Q8_0 activations xq [n, cols / 32]; fp16 is
// Fp16ToFp32Table(). Only call when KernelCpuIsa() is kNeonDotProd.
void QuantizedRows(const WeightView& w, size_t row_bytes, const BlockQ8_0* xq, int64_t n,
                   int64_t r0, int64_t r1, const float* fp16, float* y);
}  // namespace dotprod
}  // namespace neon

}  // namespace tandem::matmul_internal
