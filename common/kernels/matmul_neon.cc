// NEON MatMul (aarch64): the scalar reference's loops with 128-bit integer and float dot
// products. Same numerics contract (x quantized to Q8_0 with the shared quantizer, exact
// int block sums); only the float summation order differs from the reference. Batch
// invariant: every (row, token) output comes from the same Dot* function whatever n is.
// Built only on ARM (the arm64 cross build runs its tests under qemu).
#include <arm_neon.h>

#include <vector>

#include "common/kernels/matmul_internal.h"
#include "common/util/fp16.h"

namespace tandem::matmul_internal::neon {
namespace {

// Exact int dot product of two 32-value int8 blocks.
inline int32_t DotBlock(int8x16_t w0, int8x16_t w1, const int8_t* x) {
  const int8x16_t x0 = vld1q_s8(x);
  const int8x16_t x1 = vld1q_s8(x + 16);
  int32x4_t acc = vdupq_n_s32(0);
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
  acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(w0), vget_high_s8(x0)));
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
  acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(w1), vget_high_s8(x1)));
  return vaddvq_s32(acc);
}

float DotQ8_0Neon(const BlockQ8_0* w, const BlockQ8_0* x, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const int32_t isum = DotBlock(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), x[b].qs);
    acc += Fp16ToFp32(w[b].d) * Fp16ToFp32(x[b].d) * static_cast<float>(isum);
  }
  return acc;
}

float DotQ4_0Neon(const BlockQ4_0* w, const BlockQ8_0* x, int64_t nb) {
  const uint8x16_t low4 = vdupq_n_u8(0x0f);
  const int8x16_t eight = vdupq_n_s8(8);
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8x16_t packed = vld1q_u8(w[b].qs);
    // Low nibbles are values 0..15, high nibbles 16..31; both offset by 8.
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(packed, low4)), eight);
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(packed, 4)), eight);
    const int32_t isum = DotBlock(lo, hi, x[b].qs);
    acc += Fp16ToFp32(w[b].d) * Fp16ToFp32(x[b].d) * static_cast<float>(isum);
  }
  return acc;
}

float DotF32Neon(const float* w, const float* x, int64_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(w + i), vld1q_f32(x + i));
    acc1 = vfmaq_f32(acc1, vld1q_f32(w + i + 4), vld1q_f32(x + i + 4));
  }
  float s = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) s += w[i] * x[i];
  return s;
}

float DotF16Neon(const uint16_t* w, const float* x, int64_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(w + i));
    acc0 = vfmaq_f32(acc0, vcvt_f32_f16(vget_low_f16(h)), vld1q_f32(x + i));
    acc1 = vfmaq_f32(acc1, vcvt_f32_f16(vget_high_f16(h)), vld1q_f32(x + i + 4));
  }
  float s = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) s += Fp16ToFp32(w[i]) * x[i];
  return s;
}

}  // namespace

void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  const size_t row_bytes = RowBytes(w.type, w.cols);
  const bool quantized = w.type == GgmlType::kQ8_0 || w.type == GgmlType::kQ4_0;
  const int64_t nb = w.cols / kQK8_0;
  thread_local std::vector<BlockQ8_0> xq_buf;  // [n, nb], the caller's
  BlockQ8_0* xq = nullptr;
  if (quantized) {
    if (xq_buf.size() < static_cast<size_t>(n * nb)) xq_buf.resize(n * nb);
    xq = xq_buf.data();
    for (int64_t t = 0; t < n; ++t) QuantizeActivationRow(x + t * w.cols, w.cols, xq + t * nb);
  }
  pool.ParallelFor(w.rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* wr = w.data + r * row_bytes;
      for (int64_t t = 0; t < n; ++t) {
        float v = 0.0f;
        switch (w.type) {
          case GgmlType::kF32:
            v = DotF32Neon(reinterpret_cast<const float*>(wr), x + t * w.cols, w.cols);
            break;
          case GgmlType::kF16:
            v = DotF16Neon(reinterpret_cast<const uint16_t*>(wr), x + t * w.cols, w.cols);
            break;
          case GgmlType::kQ8_0:
            v = DotQ8_0Neon(reinterpret_cast<const BlockQ8_0*>(wr), xq + t * nb, nb);
            break;
          case GgmlType::kQ4_0:
            v = DotQ4_0Neon(reinterpret_cast<const BlockQ4_0*>(wr), xq + t * nb, nb);
            break;
          default:
            v = __builtin_nanf("");
            break;
        }
        y[t * w.rows + r] = v;
      }
    }
  });
}

}  // namespace tandem::matmul_internal::neon
