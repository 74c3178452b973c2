// Pieces shared by the ARMv8.0 NEON and the ARMv8.2 dotprod MatMul kernels (aarch64).
// Not a public API. Everything here has internal linkage: each kernel file compiles its
// own copy at its own ISA level, so the linker can never hand an ARMv8.0 caller a copy
// built with sdot (kernels_isa_isolation checks this).
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "common/kernels/matmul.h"
#include "common/tensor/quant_blocks.h"

namespace tandem::matmul_internal::neon {
namespace {  // NOLINT(google-build-namespaces): internal linkage on purpose, see above

// Q4_0 nibbles -> signed values: low nibbles are values 0..15, high nibbles 16..31; both
// are stored offset by 8.
inline void UnpackQ4_0(const uint8_t* qs, int8x16_t* lo, int8x16_t* hi) {
  const uint8x16_t packed = vld1q_u8(qs);
  const int8x16_t eight = vdupq_n_s8(8);
  *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(packed, vdupq_n_u8(0x0f))), eight);
  *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(packed, 4)), eight);
}

// Sum over blocks of d_w * d_x * (exact int dot of the block), in block order with the
// reference's float steps: with exact int sums, the result is bit-identical to the
// scalar DotQ8_0 / DotQ4_0 (the ARM build does not contract float multiply-adds).
// BlockDot::Dot(w0, w1, x) is the exact int dot of one 32-value block.
template <class BlockDot>
float DotQ8_0Blocks(const BlockQ8_0* w, const BlockQ8_0* x, int64_t nb, const float* fp16) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const int32_t isum = BlockDot::Dot(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), x[b].qs);
    acc += fp16[w[b].d] * fp16[x[b].d] * static_cast<float>(isum);
  }
  return acc;
}

template <class BlockDot>
float DotQ4_0Blocks(const BlockQ4_0* w, const BlockQ8_0* x, int64_t nb, const float* fp16) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int8x16_t lo, hi;
    UnpackQ4_0(w[b].qs, &lo, &hi);
    const int32_t isum = BlockDot::Dot(lo, hi, x[b].qs);
    acc += fp16[w[b].d] * fp16[x[b].d] * static_cast<float>(isum);
  }
  return acc;
}

// y[t * w.rows + r] for rows [r0, r1) and every token t < n of a Q8_0 / Q4_0 matrix
// against the activations xq [n, nb]. Each output is one dot product computed the same
// way whatever n is, so a token's outputs do not depend on its batch (n == 1 == n > 1).
template <class BlockDot>
void QuantizedRowsImpl(const WeightView& w, size_t row_bytes, const BlockQ8_0* xq, int64_t n,
                       int64_t r0, int64_t r1, const float* fp16, float* y) {
  const int64_t nb = w.cols / kQK8_0;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* wr = w.data + r * row_bytes;
    for (int64_t t = 0; t < n; ++t) {
      const BlockQ8_0* xt = xq + t * nb;
      y[t * w.rows + r] =
          w.type == GgmlType::kQ8_0
              ? DotQ8_0Blocks<BlockDot>(reinterpret_cast<const BlockQ8_0*>(wr), xt, nb, fp16)
              : DotQ4_0Blocks<BlockDot>(reinterpret_cast<const BlockQ4_0*>(wr), xt, nb, fp16);
    }
  }
}

}  // namespace
}  // namespace tandem::matmul_internal::neon
