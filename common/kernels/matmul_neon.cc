// NEON MatMul (aarch64). Mirrors the scalar reference; not exercised on x86 CI.
#include "common/kernels/matmul_internal.h"

namespace tandem::matmul_internal::neon {

void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  MatMulScalar(w, x, n, y, &pool);
}

}  // namespace tandem::matmul_internal::neon
