// NEON MatMul (aarch64, ARMv8.0-A baseline): the scalar reference's loops with 128-bit
// integer and float dot products. Same numerics contract (x quantized to Q8_0 blocks
// bit-identical to the reference quantizer, exact int block sums, the reference's float
// steps), so quantized outputs are bit-identical to ref::MatMul; float weights differ only
// in summation order. Quantized rows use sdot where the CPU has it
// (matmul_neon_dotprod.cc); the row kernels themselves are templates shared with that file
// (matmul_neon_internal.h: the 32-value block types, matmul_neon_kquants.h: the K-quants).
// Batch invariant: every (row, token) output is one dot product computed the same way
// whatever n is. Built only on ARM (tests/run-arm64.sh runs its tests under qemu).
#include <arm_neon.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "common/kernels/cpu_features.h"
#include "common/kernels/fp16_table.h"
#include "common/kernels/matmul_internal.h"
#include "common/kernels/matmul_neon_internal.h"
#include "common/kernels/matmul_neon_kquants.h"
#include "common/util/fp16.h"

namespace tandem::matmul_internal::neon {
namespace {

// Exact int8 dot products in ARMv8.0: widening multiplies to int16, pairwise accumulated
// into int32 (|products| <= 128 * 128, no overflow).
struct WideningBlock {
  static int32x4_t Acc16(int32x4_t acc, int8x16_t w, int8x16_t x) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w), vget_low_s8(x)));
    return vpadalq_s16(acc, vmull_high_s8(w, x));
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

// 16-bit float weights: Low / High convert the low / high 4 of 8 values to floats, Scalar
// one value.
struct F16Weights {
  // fcvtl (half -> float) is ARMv8.0; half arithmetic would need ARMv8.2.
  static float32x4_t Low(uint16x8_t h) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
  }
  static float32x4_t High(uint16x8_t h) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)));
  }
  static float Scalar(uint16_t h) { return Fp16ToFp32(h); }
};
struct BF16Weights {
  // bf16 is the top half of a float: shift left by 16 (exact).
  static float32x4_t Low(uint16x8_t h) {
    return vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
  }
  static float32x4_t High(uint16x8_t h) { return vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)); }
  static float Scalar(uint16_t h) { return Bf16ToFp32(h); }
};

template <typename Weights>
float Dot16BitNeon(const uint16_t* w, const float* x, int64_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h = vld1q_u16(w + i);
    acc0 = vfmaq_f32(acc0, Weights::Low(h), vld1q_f32(x + i));
    acc1 = vfmaq_f32(acc1, Weights::High(h), vld1q_f32(x + i + 4));
  }
  float s = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) s += Weights::Scalar(w[i]) * x[i];
  return s;
}

// The sum of each activation block's quants (the minimum's share of Q4_1 / Q5_1).
int32_t QuantSum(const BlockQ8_0& b) {
  return vaddlvq_s8(vld1q_s8(b.qs)) + vaddlvq_s8(vld1q_s8(b.qs + 16));
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

void QuantizeActivationRowQ8K(const float* x, int64_t cols, BlockQ8_K* out) {
  for (int64_t b = 0; b < cols / kQK_K; ++b, x += kQK_K) {
    BlockQ8_K& y = out[b];
    // maxnm ignores NaN, as the reference's comparisons do.
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < kQK_K / 4; ++i) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + 4 * i)));
    const float amax = vmaxnmvq_f32(m);
    if (!amax) {
      std::memset(&y, 0, sizeof(y));
      continue;
    }
    // The reference's max: the first value of the largest magnitude, with its sign.
    const float32x4_t amax4 = vdupq_n_f32(amax);
    int first = 0;
    for (int i = 0; i < kQK_K / 4; ++i) {
      if (vmaxvq_u32(vceqq_f32(vabsq_f32(vld1q_f32(x + 4 * i)), amax4)) != 0) {
        first = 4 * i;
        while (std::fabs(x[first]) != amax) ++first;
        break;
      }
    }
    const float iscale = -127.f / x[first];
    const int32x4_t max_q = vdupq_n_s32(127);
    for (int c = 0; c < kQK_K / 16; ++c) {
      int16x4_t q16[4];
      for (int i = 0; i < 4; ++i) {
        // fcvtns: round to nearest, ties to even, as the reference's NearestInt; the values
        // are within [-127.5, 127.5], so the narrowing does not saturate below.
        const float32x4_t v = vmulq_n_f32(vld1q_f32(x + 16 * c + 4 * i), iscale);
        q16[i] = vqmovn_s32(vminq_s32(vcvtnq_s32_f32(v), max_q));
      }
      const int8x16_t q8 = vcombine_s8(vqmovn_s16(vcombine_s16(q16[0], q16[1])),
                                       vqmovn_s16(vcombine_s16(q16[2], q16[3])));
      vst1q_s8(y.qs + 16 * c, q8);
      y.bsums[c] = vaddlvq_s8(q8);
    }
    y.d = 1 / iscale;
  }
}

void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  const ActivationKind kind = ActivationKindOf(w.type);
  if (kind == ActivationKind::kFloat && w.type != GgmlType::kF32 && w.type != GgmlType::kF16 &&
      w.type != GgmlType::kBF16) {
    MatMulScalar(w, x, n, y, &pool);  // not a MatMul weight type (rejected at model load)
    return;
  }
  const size_t row_bytes = RowBytes(w.type, w.cols);
  const int64_t nb = w.cols / kQK8_0, nbk = w.cols / kQK_K;
  // Activations, the caller's: [n, nb] Q8_0 blocks and their sums, or [n, nbk] Q8_K blocks.
  thread_local std::vector<BlockQ8_0> xq_buf;
  thread_local std::vector<int32_t> xsum_buf;
  thread_local std::vector<BlockQ8_K> xk_buf;
  if (kind == ActivationKind::kQ8_0) {
    if (xq_buf.size() < static_cast<size_t>(n * nb)) xq_buf.resize(n * nb);
    for (int64_t t = 0; t < n; ++t) {
      QuantizeActivationRow(x + t * w.cols, w.cols, xq_buf.data() + t * nb);
    }
    if (w.type == GgmlType::kQ4_1 || w.type == GgmlType::kQ5_1) {
      if (xsum_buf.size() < static_cast<size_t>(n * nb)) xsum_buf.resize(n * nb);
      for (int64_t i = 0; i < n * nb; ++i) xsum_buf[i] = QuantSum(xq_buf[i]);
    }
  } else if (kind == ActivationKind::kQ8_K) {
    if (xk_buf.size() < static_cast<size_t>(n * nbk)) xk_buf.resize(n * nbk);
    for (int64_t t = 0; t < n; ++t) {
      QuantizeActivationRowQ8K(x + t * w.cols, w.cols, xk_buf.data() + t * nbk);
    }
  }
  const BlockQ8_0* xq = xq_buf.data();
  const int32_t* xsums = xsum_buf.data();
  const BlockQ8_K* xk = xk_buf.data();
  const float* fp16 = Fp16ToFp32Table();
  const bool dotprod = KernelCpuIsa() == CpuIsa::kNeonDotProd;
  pool.ParallelFor(w.rows, 16, [&](int64_t r0, int64_t r1) {
    if (kind == ActivationKind::kFloat) {
      for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* wr = w.data + r * row_bytes;
        const auto* w16 = reinterpret_cast<const uint16_t*>(wr);
        for (int64_t t = 0; t < n; ++t) {
          const float* xt = x + t * w.cols;
          y[t * w.rows + r] =
              w.type == GgmlType::kF32 ? DotF32Neon(reinterpret_cast<const float*>(wr), xt, w.cols)
              : w.type == GgmlType::kF16 ? Dot16BitNeon<F16Weights>(w16, xt, w.cols)
                                         : Dot16BitNeon<BF16Weights>(w16, xt, w.cols);
        }
      }
      return;
    }
    thread_local std::vector<float> acc;  // per token, this thread's
    if (acc.size() < static_cast<size_t>(n)) acc.resize(n);
    if (kind == ActivationKind::kQ8_0) {
      if (dotprod) {
        dotprod::QuantizedRows(w, row_bytes, xq, xsums, n, r0, r1, fp16, acc.data(), y);
      } else {
        BlockRows<WideningBlock>(w, row_bytes, xq, xsums, n, r0, r1, fp16, acc.data(), y);
      }
    } else if (dotprod) {
      dotprod::KQuantRows(w, row_bytes, xk, n, r0, r1, fp16, acc.data(), y);
    } else {
      KRows<WideningBlock>(w, row_bytes, xk, n, r0, r1, fp16, acc.data(), y);
    }
  });
}

}  // namespace tandem::matmul_internal::neon
