// MatMul entry point: picks the kernel set for this CPU once.
#include "common/kernels/matmul.h"

#include <string>

#include "common/kernels/cpu_features.h"
#include "common/kernels/matmul_internal.h"

namespace tandem {

void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (n <= 0 || w.rows <= 0) return;
#if defined(__aarch64__)
  matmul_internal::neon::MatMul(w, x, n, y, pool);
#elif defined(TANDEM_HAVE_AVX2_KERNELS)
  if (CpuHasAvx2Fma()) {
    if (KernelCpuIsa() == CpuIsa::kAvx512Vnni) {
      const bool gemm = n > 1 && matmul_internal::avx512::GemmSupported(w.type) &&
                        matmul_internal::UseGemm(w.type, n, CpuIsa::kAvx512Vnni);
      if (gemm) {
        matmul_internal::avx512::Gemm(w, x, n, y, pool);
        return;
      }
      if (matmul_internal::avx512::RowsSupported(w.type)) {
        matmul_internal::avx512::QuantizedRowsMatMul(w, x, n, y, pool);
        return;
      }
    }
    matmul_internal::avx2::MatMul(w, x, n, y, pool);
    return;
  }
  matmul_internal::MatMulScalar(w, x, n, y, &pool);
#else
  matmul_internal::MatMulScalar(w, x, n, y, &pool);
#endif
}

namespace matmul_internal {

// Batches of up to this many tokens run through the row kernels, larger ones through the
// GEMM, whose per-call repack of each row group costs several tokens' worth of
// multiplies. Measured with BM_MatMulBatchPath (a 5632 x 2048 matrix from DRAM, 2 threads,
// median of 9 randomly interleaved repetitions, on a busy 2-core AMD EPYC with AVX-512
// VNNI); us per call, row kernels / GEMM:
//   AVX-512 Q4_0: n=1 371/729, 2 388/740, 4 473/831, 8 732/950, 12 1086/1207, 16 1236/1385
//   AVX-512 Q8_0: n=1 498/827, 2 555/865, 4 730/926, 6 920/972, 8 1008/1071, 12 1531/1375
//   AVX2 Q4_0:    n=2 602/642, 3 759/793, 4 872/861, 6 1316/1222
//   AVX2 Q8_0:    n=2 774/945, 4 1168/1260, 6 1701/1703, 8 2213/2034
// AVX-512 Q4_0 near the crossover, all three FFN/attention shapes (another run, busier):
//   n=12: 5632x2048 1942/2106, 2048x5632 2013/2234, 2048x2048 839/875
//   n=16: 5632x2048 2385/2411, 2048x5632 2494/2356, 2048x2048 990/849
// K-quants (BM_MatMulKQuantPrompt, 2 threads, weights from DRAM, medians of 3; us per
// call, decode kernel token by token / AVX2 GEMM / AVX-512 GEMM):
//   Q4_K 2048x5632: n=2 427/478/558, n=3 667/507/561; 5632x2048: n=2 468/470/605, 3 678/517/636
//   Q6_K 2048x5632: n=2 813/838/821, n=3 902/796/751; 5632x2048: n=2 829/905/1005, 3 1123/925/1018
int64_t RowKernelMaxBatch(GgmlType type, CpuIsa isa) {
  // K-quants: the decode kernel token by token, then the GEMM (measured above).
  if (ActivationKindOf(type) == ActivationKind::kQ8_K) return 2;
  const bool q4 = type == GgmlType::kQ4_0;
  if (isa == CpuIsa::kAvx512Vnni) return q4 ? 12 : 8;
  return q4 ? 3 : 6;
}

bool UseGemm(GgmlType type, int64_t n, CpuIsa isa) { return n > RowKernelMaxBatch(type, isa); }

}  // namespace matmul_internal

MatMulKernelNames MatMulKernelsFor(GgmlType type) {
  if (!TraitsOf(type).supported) return {"none", "none"};
#if defined(__ARM_NEON)
  // Every supported type has NEON row kernels (each weight row read once per call, for
  // decode and prompts alike); the quantized ones use sdot where the CPU has it.
  const bool sdot =
      matmul_internal::ActivationKindOf(type) != matmul_internal::ActivationKind::kFloat &&
      KernelCpuIsa() == CpuIsa::kNeonDotProd;
  const std::string name = sdot ? "neon-dotprod" : "neon";
  return {name, name};
#elif defined(TANDEM_HAVE_AVX2_KERNELS)
  if (CpuHasAvx2Fma()) {
    const CpuIsa isa = KernelCpuIsa();
    const std::string rows_max = std::to_string(matmul_internal::RowKernelMaxBatch(type, isa));
    if (isa == CpuIsa::kAvx512Vnni && matmul_internal::avx512::GemmSupported(type)) {
      // K-quants: the AVX2 decode kernel also serves the small batches.
      const std::string rows =
          matmul_internal::avx512::RowsSupported(type) ? "avx512vnni rows" : "avx2 rows";
      return {matmul_internal::avx512::RowsSupported(type) ? "avx512vnni rows" : "avx2",
              rows + " up to n = " + rows_max + ", avx512vnni gemm"};
    }
    if (matmul_internal::avx2::GemmSupported(type)) {
      return {"avx2", "avx2 rows up to n = " + rows_max + ", avx2 gemm"};
    }
    return {"avx2", "avx2 row by row"};
  }
  return {"scalar", "scalar"};
#else
  return {"scalar", "scalar"};
#endif
}

}  // namespace tandem
