// Shared between the AVX2 MatMul files (decode in matmul_avx2.cc, prompt GEMM in
// matmul_avx2_gemm.cc). Only include from files compiled with TANDEM_AVX2_FLAGS.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/kernels/matmul.h"
#include "common/tensor/quant_blocks.h"
#include "common/util/thread_pool.h"

namespace tandem::matmul_internal::avx2 {

// The 4 bytes at p as one int32 (unaligned).
inline int32_t LoadDword(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Stores the GEMM tile results of tokens [t0, t0 + count) for the 8-row group at r0, of
// which `valid` rows exist: y[t, r] for a [tokens, rows] output.
inline void StoreTile(const __m256* tile, int count, int64_t t0, int64_t r0, int valid,
                      int64_t rows, float* y) {
  for (int t = 0; t < count; ++t) {
    float* dst = y + (t0 + t) * rows + r0;
    if (valid == 8) {
      _mm256_storeu_ps(dst, tile[t]);
    } else {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, tile[t]);
      std::memcpy(dst, tmp, sizeof(float) * valid);
    }
  }
}

// Transposes 8 rows of 8 dwords: out[s] = dword s of every row.
inline void Transpose8x8(const __m256i r[8], __m256i out[8]) {
  const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  out[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  out[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  out[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  out[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  out[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  out[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  out[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  out[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

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
