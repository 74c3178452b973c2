// Quantized MatMul rows with the ARMv8.2 dot product instruction (sdot: four int8 products
// summed into each int32 lane). Compiled with -march=armv8.2-a+dotprod; called only when
// KernelCpuIsa() is kNeonDotProd (the kernel's HWCAP_ASIMDDP bit). The int block sums are
// exact, so the output is bit-identical to the ARMv8.0 kernels' and the scalar reference's.
#include "common/kernels/matmul_internal.h"
#include "common/kernels/matmul_neon_internal.h"

namespace tandem::matmul_internal::neon::dotprod {
namespace {

struct SdotBlock {
  static int32_t Dot(int8x16_t w0, int8x16_t w1, const int8_t* x) {
    int32x4_t acc = vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(x));
    acc = vdotq_s32(acc, w1, vld1q_s8(x + 16));
    return vaddvq_s32(acc);
  }
};

}  // namespace

void QuantizedRows(const WeightView& w, size_t row_bytes, const BlockQ8_0* xq, int64_t n,
                   int64_t r0, int64_t r1, const float* fp16, float* y) {
  QuantizedRowsImpl<SdotBlock>(w, row_bytes, xq, n, r0, r1, fp16, y);
}

}  // namespace tandem::matmul_internal::neon::dotprod
