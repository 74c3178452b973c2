// MatMul entry point: picks the kernel set for this CPU once.
#include "common/kernels/matmul.h"

#include "common/kernels/cpu_features.h"
#include "common/kernels/matmul_internal.h"

namespace tandem {

void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (n <= 0 || w.rows <= 0) return;
#if defined(__aarch64__)
  matmul_internal::neon::MatMul(w, x, n, y, pool);
#elif defined(TANDEM_HAVE_AVX2_KERNELS)
  if (CpuHasAvx2Fma()) {
    if (n > 1 && KernelCpuIsa() == CpuIsa::kAvx512Vnni &&
        matmul_internal::avx512::GemmSupported(w.type) &&
        matmul_internal::UseGemm(w.type, n, CpuIsa::kAvx512Vnni)) {
      matmul_internal::avx512::Gemm(w, x, n, y, pool);
      return;
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

// TODO: thresholds from BM_MatMulBatchPath.
bool UseGemm(GgmlType type, int64_t n, CpuIsa isa) {
  (void)type;
  (void)isa;
  return n > 4;
}

}  // namespace matmul_internal

MatMulKernelNames MatMulKernelsFor(GgmlType type) {
  if (!TraitsOf(type).supported) return {"none", "none"};
#if defined(__ARM_NEON)
  return {"neon", "neon"};
#elif defined(TANDEM_HAVE_AVX2_KERNELS)
  if (CpuHasAvx2Fma()) {
    if (type == GgmlType::kBF16) return {"scalar", "scalar"};  // no AVX2 kernel yet
    if (KernelCpuIsa() == CpuIsa::kAvx512Vnni && matmul_internal::avx512::GemmSupported(type)) {
      return {"avx2", "avx512vnni gemm"};
    }
    return {"avx2", matmul_internal::avx2::GemmSupported(type) ? "avx2 gemm" : "avx2 row by row"};
  }
  return {"scalar", "scalar"};
#else
  return {"scalar", "scalar"};
#endif
}

}  // namespace tandem
