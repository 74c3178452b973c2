// Matrix products with weights in any supported storage type, the hot path of inference.
#pragma once

#include <cstdint>
#include <string>

#include "common/tensor/ggml_type.h"
#include "common/util/thread_pool.h"

namespace tandem {

// A weight matrix [rows, cols] stored row-major in `type`, each row RowBytes(type, cols)
// bytes; usually points into the mmapped model file.
struct WeightView {
  GgmlType type = GgmlType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
};

// y[n, rows] = x[n, cols] * W^T. n == 1 is decode (matrix-vector); n > 1 is prompt
// processing (matrix-matrix). Quantized weights are multiplied against x quantized to
// Q8_0 blocks (as ggml does). Uses the fastest kernel this CPU supports; the result
// does not depend on the pool size.
void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);

// The kernels MatMul runs for weights of `type` on this CPU (after any TANDEM_CPU cap),
// for decode (n = 1) and prompt (n > 1), e.g. {"avx2", "avx512vnni gemm"}; for `tandem info`.
struct MatMulKernelNames {
  std::string decode;
  std::string prompt;
};
MatMulKernelNames MatMulKernelsFor(GgmlType type);

namespace ref {
// Scalar reference with the same numerics contract, for tests.
void MatMul(const WeightView& w, const float* x, int64_t n, float* y);
}  // namespace ref

}  // namespace tandem
