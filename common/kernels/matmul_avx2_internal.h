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

// Eight int32 lanes in memory (a std::vector<__m256i> would drop the alignment attribute).
struct alignas(32) Int32x8 {
  int32_t v[8];
};

// One activation row prepared for the quantized decode kernels.
struct ActivationRow {
  BlockQ8_0* q = nullptr;   // [nb] quantized row
  float* d = nullptr;       // [nb] q[b].d as float
  Int32x8* corr = nullptr;  // [nb] Q4_0 only: lane i = -8 * sum of q[b].qs[4i..4i+3]
  int64_t nb = 0;
};

// Quantizes x[cols] into `a` (whose buffers hold cols / 32 blocks).
void PrepareActivationRow(const float* x, int64_t cols, bool q4_corr, ActivationRow* a);

// Reusable buffers for ActivationRow (one per calling thread).
struct ActivationScratch {
  std::vector<BlockQ8_0> q;
  std::vector<float> d;
  std::vector<Int32x8> corr;

  void Prepare(const float* x, int64_t cols, bool q4_corr, ActivationRow* a) {
    const size_t nb = static_cast<size_t>(cols / kQK8_0);
    if (q.size() < nb) {
      q.resize(nb);
      d.resize(nb);
      corr.resize(nb);
    }
    a->q = q.data();
    a->d = d.data();
    a->corr = corr.data();
    PrepareActivationRow(x, cols, q4_corr, a);
  }
};

// Prompt processing (n > 1) for the weight types GemmSupported() accepts.
bool GemmSupported(GgmlType type);
void Gemm(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);

}  // namespace tandem::matmul_internal::avx2
