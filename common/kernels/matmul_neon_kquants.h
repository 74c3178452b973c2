// The NEON K-quant row kernels (Q4_K, Q5_K, Q6_K against Q8_K activations), shared by the
// ARMv8.0 and the ARMv8.2 dotprod kernel files like matmul_neon_internal.h (internal
// linkage, one copy per file and ISA level). Not a public API.
//
// Numerics: per 256-value super-block the integer parts (sum_j sc_j * dot_j, and
// sum_j m_j * sum(x_j) or Q6_K's -32 offset inside dot_j) are exact in int32 whatever
// order they are summed in; the float steps are the reference's std::fma per block in
// block order (DotQ4_K ...), so each output is bit-identical to the scalar reference.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "common/kernels/matmul.h"
#include "common/kernels/matmul_neon_internal.h"
#include "common/tensor/quant_blocks.h"

namespace tandem::matmul_internal::neon {
namespace {  // NOLINT(google-build-namespaces): internal linkage on purpose

// One K-quant block unpacked: the 256 values as int8 in element order (q[i]: elements
// 16i .. 16i + 15), and the sub-block scales (and mins).
struct UnpackedK {
  int8x16_t q[16];
  int32_t sc[16];  // Q4_K / Q5_K: 8 sub-blocks of 32; Q6_K: 16 of 16
  int16x8_t mins;  // Q4_K / Q5_K
};

// Q4_K: byte l of 32-byte group g holds element 64g + l (low nibble) and 64g + 32 + l.
inline void UnpackK(const BlockQ4_K& b, UnpackedK* u) {
  const uint8x16_t low4 = vdupq_n_u8(0x0f);
  for (int g = 0; g < 4; ++g) {
    const uint8x16_t p0 = vld1q_u8(b.qs + 32 * g), p1 = vld1q_u8(b.qs + 32 * g + 16);
    u->q[4 * g] = vreinterpretq_s8_u8(vandq_u8(p0, low4));
    u->q[4 * g + 1] = vreinterpretq_s8_u8(vandq_u8(p1, low4));
    u->q[4 * g + 2] = vreinterpretq_s8_u8(vshrq_n_u8(p0, 4));
    u->q[4 * g + 3] = vreinterpretq_s8_u8(vshrq_n_u8(p1, 4));
  }
}

// Q5_K: as Q4_K, plus bit j of qh[l] as the fifth bit of element l of sub-block j.
inline void UnpackK(const BlockQ5_K& b, UnpackedK* u) {
  const uint8x16_t low4 = vdupq_n_u8(0x0f), sixteen = vdupq_n_u8(16);
  const uint8x16_t qh0 = vld1q_u8(b.qh), qh1 = vld1q_u8(b.qh + 16);
  for (int g = 0; g < 4; ++g) {
    const uint8x16_t p0 = vld1q_u8(b.qs + 32 * g), p1 = vld1q_u8(b.qs + 32 * g + 16);
    const uint8x16_t lo_bit = vdupq_n_u8(static_cast<uint8_t>(1u << (2 * g)));
    const uint8x16_t hi_bit = vdupq_n_u8(static_cast<uint8_t>(2u << (2 * g)));
    u->q[4 * g] =
        vreinterpretq_s8_u8(vorrq_u8(vandq_u8(p0, low4), vandq_u8(vtstq_u8(qh0, lo_bit), sixteen)));
    u->q[4 * g + 1] =
        vreinterpretq_s8_u8(vorrq_u8(vandq_u8(p1, low4), vandq_u8(vtstq_u8(qh1, lo_bit), sixteen)));
    u->q[4 * g + 2] =
        vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(p0, 4), vandq_u8(vtstq_u8(qh0, hi_bit), sixteen)));
    u->q[4 * g + 3] =
        vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(p1, 4), vandq_u8(vtstq_u8(qh1, hi_bit), sixteen)));
  }
}

// Q6_K: element 128h + 32k + l has its low 4 bits in ql[64h + l + 32 * (k & 1)] (low
// nibble for k < 2, high for k >= 2) and its high 2 bits at bit 2k of qh[32h + l];
// unpacked as q - 32 (the reference's offset), in [-32, 31].
inline void UnpackK(const BlockQ6_K& b, UnpackedK* u) {
  const uint8x16_t low4 = vdupq_n_u8(0x0f), bits45 = vdupq_n_u8(0x30);
  const int8x16_t offset = vdupq_n_s8(32);
  for (int h = 0; h < 2; ++h) {
    for (int half = 0; half < 2; ++half) {  // l in [16 * half, 16 * half + 16)
      const uint8x16_t ql0 = vld1q_u8(b.ql + 64 * h + 16 * half);
      const uint8x16_t ql1 = vld1q_u8(b.ql + 64 * h + 32 + 16 * half);
      const uint8x16_t qh = vld1q_u8(b.qh + 32 * h + 16 * half);
      const uint8x16_t v[4] = {
          vorrq_u8(vandq_u8(ql0, low4), vandq_u8(vshlq_n_u8(qh, 4), bits45)),
          vorrq_u8(vandq_u8(ql1, low4), vandq_u8(vshlq_n_u8(qh, 2), bits45)),
          vorrq_u8(vshrq_n_u8(ql0, 4), vandq_u8(qh, bits45)),
          vorrq_u8(vshrq_n_u8(ql1, 4), vandq_u8(vshrq_n_u8(qh, 2), bits45)),
      };
      for (int k = 0; k < 4; ++k) {
        u->q[8 * h + 2 * k + half] = vsubq_s8(vreinterpretq_s8_u8(v[k]), offset);
      }
    }
  }
}

template <typename Block>  // BlockQ4_K or BlockQ5_K
inline void UnpackScalesAndMins(const Block& b, UnpackedK* u) {
  int16_t m[8];
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, mn;
    KScaleMin(j, b.scales, &sc, &mn);
    u->sc[j] = sc;
    m[j] = mn;
  }
  u->mins = vld1q_s16(m);
}

// sum_j sc_j * dot(sub-block j, x) for Q4_K / Q5_K (8 sub-blocks of 32).
template <class BlockDot>
inline int32_t ScaledSum32(const UnpackedK& u, const int8_t* x) {
  int32x4_t s = vdupq_n_s32(0);
  for (int j = 0; j < 8; ++j) {
    int32x4_t d = BlockDot::Acc16(vdupq_n_s32(0), u.q[2 * j], vld1q_s8(x + 32 * j));
    d = BlockDot::Acc16(d, u.q[2 * j + 1], vld1q_s8(x + 32 * j + 16));
    s = vmlaq_n_s32(s, d, u.sc[j]);
  }
  return vaddvq_s32(s);
}

// The same for Q6_K (16 sub-blocks of 16, signed scales).
template <class BlockDot>
inline int32_t ScaledSum16(const UnpackedK& u, const int8_t* x) {
  int32x4_t s = vdupq_n_s32(0);
  for (int j = 0; j < 16; ++j) {
    s = vmlaq_n_s32(s, BlockDot::Acc16(vdupq_n_s32(0), u.q[j], vld1q_s8(x + 16 * j)), u.sc[j]);
  }
  return vaddvq_s32(s);
}

// sum_j m_j * (bsums[2j] + bsums[2j + 1]) (|pair sums| <= 32 * 128 fit int16).
inline int32_t MinsSum(int16x8_t mins, const BlockQ8_K& x) {
  const int16x8_t pairs = vpaddq_s16(vld1q_s16(x.bsums), vld1q_s16(x.bsums + 8));
  const int32x4_t p = vmull_s16(vget_low_s16(mins), vget_low_s16(pairs));
  return vaddvq_s32(vaddq_s32(p, vmull_high_s16(mins, pairs)));
}

// y[t * w.rows + r] for rows [r0, r1) and every token t < n of a K-quant matrix against
// the Q8_K activations xk [n, nb]. scratch: n floats; kDecode: n == 1 with a local
// accumulator (as BlockRowsImpl).
template <class BlockDot, typename Block, bool kDecode>
void KQuantRowsImpl(const WeightView& w, size_t row_bytes, const BlockQ8_K* xk, int64_t tokens,
                    int64_t r0, int64_t r1, const float* fp16, float* scratch, float* y) {
  constexpr bool kQ6 = sizeof(Block) == sizeof(BlockQ6_K);
  const int64_t nb = w.cols / kQK_K;
  const int64_t n = kDecode ? 1 : tokens;
  float single[1];
  float* acc = kDecode ? single : scratch;
  UnpackedK u;
  for (int64_t r = r0; r < r1; ++r) {
    const Block* wr = reinterpret_cast<const Block*>(w.data + r * row_bytes);
    for (int64_t t = 0; t < n; ++t) acc[t] = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const Block& blk = wr[b];
      UnpackK(blk, &u);
      const float d = fp16[blk.d];
      if constexpr (kQ6) {
        for (int j = 0; j < 16; ++j) u.sc[j] = blk.scales[j];
        for (int64_t t = 0; t < n; ++t) {
          const BlockQ8_K& x = xk[t * nb + b];
          const int32_t s = ScaledSum16<BlockDot>(u, x.qs);
          acc[t] = Fma(x.d * d, static_cast<float>(s), acc[t]);
        }
      } else {
        UnpackScalesAndMins(blk, &u);
        const float dmin = fp16[blk.dmin];
        for (int64_t t = 0; t < n; ++t) {
          const BlockQ8_K& x = xk[t * nb + b];
          const int32_t s = ScaledSum32<BlockDot>(u, x.qs);
          const int32_t m = MinsSum(u.mins, x);
          acc[t] = Fma(x.d * d, static_cast<float>(s), acc[t]);
          acc[t] = Fma(-(x.d * dmin), static_cast<float>(m), acc[t]);
        }
      }
    }
    for (int64_t t = 0; t < n; ++t) y[t * w.rows + r] = acc[t];
  }
}

template <class BlockDot, typename Block>
void KQuantRowsOf(const WeightView& w, size_t row_bytes, const BlockQ8_K* xk, int64_t n, int64_t r0,
                  int64_t r1, const float* fp16, float* scratch, float* y) {
  if (n == 1) {
    KQuantRowsImpl<BlockDot, Block, true>(w, row_bytes, xk, n, r0, r1, fp16, scratch, y);
  } else {
    KQuantRowsImpl<BlockDot, Block, false>(w, row_bytes, xk, n, r0, r1, fp16, scratch, y);
  }
}

template <class BlockDot>
void KRows(const WeightView& w, size_t row_bytes, const BlockQ8_K* xk, int64_t n, int64_t r0,
           int64_t r1, const float* fp16, float* scratch, float* y) {
  switch (w.type) {
    case GgmlType::kQ4_K:
      KQuantRowsOf<BlockDot, BlockQ4_K>(w, row_bytes, xk, n, r0, r1, fp16, scratch, y);
      break;
    case GgmlType::kQ5_K:
      KQuantRowsOf<BlockDot, BlockQ5_K>(w, row_bytes, xk, n, r0, r1, fp16, scratch, y);
      break;
    default:  // kQ6_K
      KQuantRowsOf<BlockDot, BlockQ6_K>(w, row_bytes, xk, n, r0, r1, fp16, scratch, y);
      break;
  }
}

}  // namespace
}  // namespace tandem::matmul_internal::neon
