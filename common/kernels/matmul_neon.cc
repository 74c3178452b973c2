// NEON MatMul (aarch64, ARMv8.0-A baseline): the scalar reference's loops with 128-bit
// integer and float dot products. Same numerics contract (x quantized to Q8_0 blocks
// bit-identical to the reference quantizer, exact int block sums, the reference's float
// steps), so quantized outputs are bit-identical to ref::MatMul; float weights differ only
// in summation order. Quantized rows use sdot where the CPU has it
// (matmul_neon_dotprod.cc). Weight types without a NEON kernel take the scalar path.
// Batch invariant: every (row, token) output is one dot product computed the same way
// whatever n is. Built only on ARM (tests/run-arm64.sh runs its tests under qemu).
#include <arm_neon.h>

#include <vector>

#include "common/kernels/cpu_features.h"
#include "common/kernels/fp16_table.h"
#include "common/kernels/matmul_internal.h"
#include "common/kernels/matmul_neon_internal.h"
#include "common/util/fp16.h"

namespace tandem::matmul_internal::neon {
namespace {

// Exact int dot of one 32-value block in ARMv8.0: widening multiplies to int16, pairwise
// accumulated into int32 (|products| <= 127 * 128, no overflow).
struct WideningBlock {
  static int32_t Dot(int8x16_t w0, int8x16_t w1, const int8_t* x) {
    const int8x16_t x0 = vld1q_s8(x);
    const int8x16_t x1 = vld1q_s8(x + 16);
    int32x4_t acc = vdupq_n_s32(0);
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
    acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(w0), vget_high_s8(x0)));
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
    acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(w1), vget_high_s8(x1)));
    return vaddvq_s32(acc);
  }
};

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
    // fcvtl (half -> float) is ARMv8.0; half arithmetic would need ARMv8.2.
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(w + i));
    acc0 = vfmaq_f32(acc0, vcvt_f32_f16(vget_low_f16(h)), vld1q_f32(x + i));
    acc1 = vfmaq_f32(acc1, vcvt_f32_f16(vget_high_f16(h)), vld1q_f32(x + i + 4));
  }
  float s = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) s += Fp16ToFp32(w[i]) * x[i];
  return s;
}

void QuantizedRows(const WeightView& w, size_t row_bytes, const BlockQ8_0* xq, int64_t n,
                   int64_t r0, int64_t r1, const float* fp16, float* y) {
  QuantizedRowsImpl<WideningBlock>(w, row_bytes, xq, n, r0, r1, fp16, y);
}

}  // namespace

void QuantizeActivationRow(const float* x, int64_t cols, BlockQ8_0* out) {
  for (int64_t b = 0; b < cols / kQK8_0; ++b) {
    const float* xb = x + b * kQK8_0;
    float32x4_t v[8];
    for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(xb + 4 * i);
    // maxnm ignores NaN like std::fmax in the reference.
    float32x4_t m = vabsq_f32(v[0]);
    for (int i = 1; i < 8; ++i) m = vmaxnmq_f32(m, vabsq_f32(v[i]));
    const float amax = vmaxnmvq_f32(m);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    out[b].d = Fp32ToFp16(amax / 127.0f);
    int16x8_t q16[4];
    for (int i = 0; i < 4; ++i) {
      // fcvtns: round to nearest, ties to even, as std::nearbyint in the default mode.
      const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(v[2 * i], id));
      const int32x4_t c = vcvtnq_s32_f32(vmulq_n_f32(v[2 * i + 1], id));
      q16[i] = vcombine_s16(vqmovn_s32(a), vqmovn_s32(c));
    }
    vst1q_s8(out[b].qs, vcombine_s8(vqmovn_s16(q16[0]), vqmovn_s16(q16[1])));
    vst1q_s8(out[b].qs + 16, vcombine_s8(vqmovn_s16(q16[2]), vqmovn_s16(q16[3])));
  }
}

void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  const bool quantized = w.type == GgmlType::kQ8_0 || w.type == GgmlType::kQ4_0;
  if (!quantized && w.type != GgmlType::kF32 && w.type != GgmlType::kF16) {
    MatMulScalar(w, x, n, y, &pool);  // no NEON kernel for this type yet
    return;
  }
  const size_t row_bytes = RowBytes(w.type, w.cols);
  const int64_t nb = w.cols / kQK8_0;
  thread_local std::vector<BlockQ8_0> xq_buf;  // [n, nb], the caller's
  if (quantized) {
    if (xq_buf.size() < static_cast<size_t>(n * nb)) xq_buf.resize(n * nb);
    for (int64_t t = 0; t < n; ++t) {
      QuantizeActivationRow(x + t * w.cols, w.cols, xq_buf.data() + t * nb);
    }
  }
  const BlockQ8_0* xq = xq_buf.data();
  const float* fp16 = Fp16ToFp32Table();
  const bool dotprod = KernelCpuIsa() == CpuIsa::kNeonDotProd;
  pool.ParallelFor(w.rows, 16, [&](int64_t r0, int64_t r1) {
    if (quantized) {
      if (dotprod) {
        dotprod::QuantizedRows(w, row_bytes, xq, n, r0, r1, fp16, y);
      } else {
        QuantizedRows(w, row_bytes, xq, n, r0, r1, fp16, y);
      }
      return;
    }
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* wr = w.data + r * row_bytes;
      for (int64_t t = 0; t < n; ++t) {
        y[t * w.rows + r] =
            w.type == GgmlType::kF32
                ? DotF32Neon(reinterpret_cast<const float*>(wr), x + t * w.cols, w.cols)
                : DotF16Neon(reinterpret_cast<const uint16_t*>(wr), x + t * w.cols, w.cols);
      }
    }
  });
}

}  // namespace tandem::matmul_internal::neon
