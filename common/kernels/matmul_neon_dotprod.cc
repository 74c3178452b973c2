// Quantized MatMul rows with the ARMv8.2 dot product instruction (sdot: four int8 products
// summed into each int32 lane). Compiled with -march=armv8.2-a+dotprod; called only when
// KernelCpuIsa() is kNeonDotProd (the kernel's HWCAP_ASIMDDP bit). The int block sums are
// exact, so the output is bit-identical to the ARMv8.0 kernels' and the scalar reference's.
#include "common/kernels/matmul_internal.h"
#include "common/kernels/matmul_neon_internal.h"
#include "common/kernels/matmul_neon_kquants.h"

namespace tandem::matmul_internal::neon::dotprod {
namespace {

struct SdotBlock {
  static int32x4_t Acc16(int32x4_t acc, int8x16_t w, int8x16_t x) { return vdotq_s32(acc, w, x); }
};

}  // namespace

void QuantizedRows(const WeightView& w, size_t row_bytes, const BlockQ8_0* xq, const int32_t* xsums,
                   int64_t n, int64_t r0, int64_t r1, const float* fp16, float* acc, float* y) {
  BlockRows<SdotBlock>(w, row_bytes, xq, xsums, n, r0, r1, fp16, acc, y);
}

void KQuantRows(const WeightView& w, size_t row_bytes, const BlockQ8_K* xk, int64_t n, int64_t r0,
                int64_t r1, const float* fp16, float* acc, float* y) {
  KRows<SdotBlock>(w, row_bytes, xk, n, r0, r1, fp16, acc, y);
}

}  // namespace tandem::matmul_internal::neon::dotprod
