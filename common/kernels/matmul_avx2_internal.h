// Shared between the AVX2 MatMul files (decode in matmul_avx2.cc, prompt GEMM in
// matmul_avx2_gemm.cc). Only include from files compiled with TANDEM_AVX2_FLAGS.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "common/kernels/matmul.h"
#include "common/tensor/quant_blocks.h"
#include "common/util/thread_pool.h"

namespace tandem::matmul_internal::avx2 {

// An activation block laid out for the Q4_0 decode kernel (see GemvQ4_0Pairs).
struct alignas(32) Q4Activation {
  int8_t lo[32];    // x[0..15] twice
  int8_t hi[32];    // x[16..31] twice
  int32_t corr[8];  // lane i (and i + 4) = -8 * (x[4i..4i+3] + x[16+4i..16+4i+3])
};

// 32 bytes, 32-byte aligned (a std::vector<__m256i> would drop the alignment attribute).
struct alignas(32) Int8x32 {
  int8_t v[32];
};

// One activation row prepared for the quantized decode kernels.
struct ActivationRow {
  BlockQ8_0* q = nullptr;      // [nb] quantized row
  float* d = nullptr;          // [nb] q[b].d as float
  Q4Activation* q4 = nullptr;  // [nb] for Q4_0 weights
  Int8x32* q8abs = nullptr;    // [nb] |q[b].qs|, for Q8_0 weights
  int64_t nb = 0;
};

// Quantizes x[cols] into `a` (whose buffers hold cols / 32 blocks) and lays it out for
// weights of type wtype.
void PrepareActivationRow(const float* x, int64_t cols, GgmlType wtype, ActivationRow* a);

// Reusable buffers for ActivationRow (one per calling thread).
struct ActivationScratch {
  std::vector<BlockQ8_0> q;
  std::vector<float> d;
  std::vector<Q4Activation> q4;
  std::vector<Int8x32> q8abs;

  void Prepare(const float* x, int64_t cols, GgmlType wtype, ActivationRow* a) {
    const size_t nb = static_cast<size_t>(cols / kQK8_0);
    if (q.size() < nb) {
      q.resize(nb);
      d.resize(nb);
      q4.resize(nb);
      q8abs.resize(nb);
    }
    a->q = q.data();
    a->d = d.data();
    a->q4 = q4.data();
    a->q8abs = q8abs.data();
    PrepareActivationRow(x, cols, wtype, a);
  }
};

// The n activation rows of x prepared for `w`'s row kernels, in the calling thread's
// buffers (valid until its next call), tokens spread over `pool`. Compiled for AVX2 only,
// so the AVX-512 row kernels can call it without AVX-512 code in shared inline functions.
ActivationRow* PrepareActivations(const WeightView& w, const float* x, int64_t n, ThreadPool& pool);

// Q4_K / Q5_K / Q6_K weights, any n (matmul_avx2_kquants.cc): bit-identical to the scalar
// reference for every row of x.
void KQuantMatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);
// KQuantMatMul's path for batches beyond RowKernelMaxBatch, the K-quant GEMM
// (matmul_avx2_kquants_gemm.cc), any n; the same results as n decode steps, bit for bit.
void KQuantGemm(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);

// One K-quant super-block unpacked for the GEMMs (the AVX2 one and the AVX-512 one, which
// calls this AVX2 code): q[k] the quant of value k in [0, 63] (Q6_K: stored unsigned, the
// -32 is the kernels' job), sc[j] the sub-block scales (Q4_K/Q5_K: 8 sub-blocks of 32
// values; Q6_K: 16 of 16), m[j] the Q4_K/Q5_K mins, d and dmin (Q6_K: 0) as floats.
struct alignas(32) UnpackedKBlock {
  uint8_t q[kQK_K];
  int16_t sc[16];
  int16_t m[8];
  float d;
  float dmin;
};
void UnpackKQuantBlock(GgmlType type, const uint8_t* block, UnpackedKBlock* out);

// Q4_1 / Q5_0 / Q5_1 weights, any n (matmul_avx2_q4_1_q5.cc): bit-identical to the scalar
// reference for every row of x.
bool Q4_1Q5Supported(GgmlType type);
void Q4_1Q5MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);

}  // namespace tandem::matmul_internal::avx2
