// Pieces shared by the MatMul kernel sets (scalar, AVX2, NEON). Not a public API.
//
// Batch invariance, the rule for every kernel set and weight type: row t of MatMul's y is
// bit-identical to what MatMul gives for row t of x alone (n == 1), whatever n and t are,
// so a position's result does not depend on whether it was decoded, computed in a prompt
// chunk, or batched with other sessions' positions. Each kernel set fixes one reduction
// order per output element and uses it on both its n == 1 and n > 1 paths.
#pragma once

#include <cstdint>

#include "common/kernels/cpu_features.h"
#include "common/kernels/matmul.h"
#include "common/tensor/quant_blocks.h"
#include "common/util/thread_pool.h"

namespace tandem::matmul_internal {

// Quantizes one activation row to Q8_0 for dot products with quantized weights:
// d = amax / 127 (stored as half), q = x * (127 / amax) rounded half to even. Every
// kernel set produces bit-identical blocks. cols is a multiple of 32.
void QuantizeActivationRow(const float* x, int64_t cols, BlockQ8_0* out);

// Quantizes one activation row to Q8_K (256-value blocks with 16-value sums) for the
// K-quant weights, as ggml's quantize_row_q8_K_ref: d = max / -127 where max is the value
// of largest magnitude, q = min(127, nearest_int(x / d)). cols is a multiple of 256.
void QuantizeActivationRowQ8K(const float* x, int64_t cols, BlockQ8_K* out);

// What a weight type's dot products take as the activation row.
enum class ActivationKind {
  kFloat,  // F32, F16, BF16: the floats themselves
  kQ8_0,   // the 32-value block types
  kQ8_K,   // the K-quants
};
ActivationKind ActivationKindOf(GgmlType type);

// Scalar dot products of one weight row with one activation row: the reference twins
// of the SIMD kernels. Quantized: per block, exact int dot products, then the float steps
// each function's comment gives, in block order (SIMD kernels do the same float steps).
float DotF32(const float* w, const float* x, int64_t n);
float DotF16(const uint16_t* w, const float* x, int64_t n);
float DotBF16(const uint16_t* w, const float* x, int64_t n);
float DotQ8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t nb);
float DotQ4_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t nb);
// acc += (d_w * d_x) * sum(q * x); acc += (m_w * d_x) * sum(x).
float DotQ4_1(const BlockQ4_1* w, const BlockQ8_0* x, int64_t nb);
// acc += (d_w * d_x) * sum((q - 16) * x).
float DotQ5_0(const BlockQ5_0* w, const BlockQ8_0* x, int64_t nb);
// As Q4_1.
float DotQ5_1(const BlockQ5_1* w, const BlockQ8_0* x, int64_t nb);
// Per 256-value block: acc = fma(d_x * d, sum_j(sc_j * sum(q * x)), acc); then
// acc = fma(-(d_x * dmin), sum_j(m_j * sum(x)), acc) (j: the 8 sub-blocks), with
// std::fma so that the SIMD kernels (which do the same steps) match bit for bit.
// nb: 256-value blocks.
float DotQ4_K(const BlockQ4_K* w, const BlockQ8_K* x, int64_t nb);
float DotQ5_K(const BlockQ5_K* w, const BlockQ8_K* x, int64_t nb);
// Per 256-value block: acc = fma(d_x * d, sum_j(sc_j * sum((q - 32) * x)), acc), j: the 16
// sub-blocks.
float DotQ6_K(const BlockQ6_K* w, const BlockQ8_K* x, int64_t nb);

// Exact integer parts of the K-quant dots for one 256-value block, shared by the scalar
// kernels: *scaled = sum_j(sc_j * sum(q * x)) and *mins = sum_j(m_j * sum(x)) (Q6_K: no
// mins, the -32 offset is in *scaled).
void Q4_KBlockSums(const BlockQ4_K& w, const BlockQ8_K& x, int32_t* scaled, int32_t* mins);
void Q5_KBlockSums(const BlockQ5_K& w, const BlockQ8_K& x, int32_t* scaled, int32_t* mins);
int32_t Q6_KBlockSum(const BlockQ6_K& w, const BlockQ8_K& x);

// Whether MatMul sends a batch of n > 1 tokens with Q4_0 / Q8_0 weights to the GEMM of
// kernel level `isa` (AVX-512 VNNI, else AVX2) rather than to the row kernels (see
// matmul.cc for the measured thresholds; K-quants: every n > 1, they have no batched row
// kernel). Either path is batch invariant.
bool UseGemm(GgmlType type, int64_t n, CpuIsa isa);
// The largest batch UseGemm leaves to the row kernels.
int64_t RowKernelMaxBatch(GgmlType type, CpuIsa isa);

// The portable kernel set: scalar dots, parallel over rows when `pool` is set.
void MatMulScalar(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool* pool);

namespace avx2 {
// Same contract as tandem::MatMul; only call when CpuHasAvx2Fma().
void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);
void QuantizeActivationRow(const float* x, int64_t cols, BlockQ8_0* out);
// Bit-identical to matmul_internal::QuantizeActivationRowQ8K (matmul_avx2_kquants.cc).
void QuantizeActivationRowQ8K(const float* x, int64_t cols, BlockQ8_K* out);
// Whether MatMul has a matrix-matrix kernel for `type` (else prompts run row by row).
bool GemmSupported(GgmlType type);
// Prompt processing (n > 1) with Q4_0 / Q8_0 / K-quant weights (the types GemmSupported()
// accepts).
void Gemm(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);
// The row kernels for Q4_0 / Q8_0 weights and any n (MatMul's path for decode and small
// batches): each weight row is streamed once per call and each of its blocks, unpacked
// once, is multiplied with up to 4 tokens. tokens_per_pass == 1 runs the decode step once
// per token instead (n passes over the weights, as batches ran before; for benchmarks).
void QuantizedRowsMatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool,
                         int tokens_per_pass);
}  // namespace avx2

namespace avx512 {
// Prompt processing (n > 1) with AVX-512 VNNI for the weight types GemmSupported()
// accepts (Q4_0, Q8_0 and the K-quants); only call when KernelCpuIsa() is kAvx512Vnni.
// Bit-identical to the AVX2 GEMMs.
bool GemmSupported(GgmlType type);
void Gemm(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);
// Gemm's K-quant part (Q4_K, Q5_K, Q6_K; matmul_avx512_kquants_gemm.cc).
void KQuantGemm(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);
// Row kernels (decode and small batches, any n) with AVX-512 VNNI for the weight types
// RowsSupported() accepts (Q4_0, Q8_0): each weight block is read once per call and dotted with
// up to 8 tokens. Bit-identical to the AVX2 kernels.
bool RowsSupported(GgmlType type);
void QuantizedRowsMatMul(const WeightView& w, const float* x, int64_t n, float* y,
                         ThreadPool& pool);
}  // namespace avx512

namespace neon {
// Same contract as tandem::MatMul (aarch64); picks the dotprod rows at run time.
void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);
void QuantizeActivationRow(const float* x, int64_t cols, BlockQ8_0* out);
// Bit-identical to matmul_internal::QuantizeActivationRowQ8K.
void QuantizeActivationRowQ8K(const float* x, int64_t cols, BlockQ8_K* out);

namespace dotprod {
// Only call these when KernelCpuIsa() is kNeonDotProd. Both write y[t * w.rows + r] for
// rows [r0, r1) (row_bytes apart) and all n tokens, with acc as n floats of scratch; fp16
// is Fp16ToFp32Table().
// Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 weights against the Q8_0 activations xq [n, cols / 32],
// xsums [n, cols / 32] the sums of their quants (read for Q4_1 / Q5_1 only).
void QuantizedRows(const WeightView& w, size_t row_bytes, const BlockQ8_0* xq, const int32_t* xsums,
                   int64_t n, int64_t r0, int64_t r1, const float* fp16, float* acc, float* y);
// Q4_K / Q5_K / Q6_K weights against the Q8_K activations xk [n, cols / 256].
void KQuantRows(const WeightView& w, size_t row_bytes, const BlockQ8_K* xk, int64_t n, int64_t r0,
                int64_t r1, const float* fp16, float* acc, float* y);
}  // namespace dotprod
}  // namespace neon

}  // namespace tandem::matmul_internal
