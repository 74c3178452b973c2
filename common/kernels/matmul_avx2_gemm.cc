// AVX2 prompt-processing GEMM (n > 1). Placeholder until the tiled kernels land.
#include "common/kernels/matmul_avx2_internal.h"

namespace tandem::matmul_internal::avx2 {

bool GemmSupported(GgmlType type) { return false; }

void Gemm(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {}

}  // namespace tandem::matmul_internal::avx2
