// Pieces shared by the ARMv8.0 NEON and the ARMv8.2 dotprod MatMul kernels (aarch64).
// Not a public API. Everything here has internal linkage: each kernel file compiles its
// own copy at its own ISA level, so the linker can never hand an ARMv8.0 caller a copy
// built with sdot (kernels_isa_isolation checks this).
//
// The row kernels are templates over BlockDot, the exact int8 dot product of the level:
// BlockDot::Acc16(acc, w, x) adds the 16 products w[i] * x[i] of int8 vectors into the
// int32 lanes of acc (each product fits int16, so the widening version is exact too). Each weight
// row is read once per call: each block is unpacked once and dotted with every token, and each
// (row, token) output gets the reference's float steps in block order, so it is bit-identical to
// the scalar reference whatever n is (batch invariant).
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "common/kernels/matmul.h"
#include "common/tensor/quant_blocks.h"

namespace tandem::matmul_internal::neon {
namespace {  // NOLINT(google-build-namespaces): internal linkage on purpose, see above

// std::fma without a call at any optimization level: a call would be to an inline
// std:: function, a weak symbol that the dotprod object must not define.
inline float Fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }

// The exact int dot of one 32-value block (w0: values 0..15, w1: 16..31).
template <class BlockDot>
inline int32_t Dot32(int8x16_t w0, int8x16_t w1, const int8_t* x) {
  int32x4_t acc = BlockDot::Acc16(vdupq_n_s32(0), w0, vld1q_s8(x));
  acc = BlockDot::Acc16(acc, w1, vld1q_s8(x + 16));
  return vaddvq_s32(acc);
}

// ---- 32-value blocks against Q8_0 activations: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 ----

// Low nibbles of qs are values 0..15, high nibbles 16..31 (unsigned, 0..15).
inline void Nibbles(const uint8_t* qs, uint8x16_t* lo, uint8x16_t* hi) {
  const uint8x16_t packed = vld1q_u8(qs);
  *lo = vandq_u8(packed, vdupq_n_u8(0x0f));
  *hi = vshrq_n_u8(packed, 4);
}

// 16 at byte j where bit j of the little-endian 32-bit qh is set (Q5_0 / Q5_1), else 0.
inline void FifthBits(const uint8_t* qh, uint8x16_t* lo, uint8x16_t* hi) {
  const uint8x16_t bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ULL));
  const uint8x16_t sixteen = vdupq_n_u8(16);
  *lo = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), bit), sixteen);
  *hi = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), bit), sixteen);
}

// One block's 32 values as int8 in element order: the weight itself (Q8_0), minus the
// offset where the reference subtracts it in the int dot (Q4_0: 8, Q5_0: 16), unsigned
// for the types with a minimum (Q4_1, Q5_1).
inline void Unpack(const BlockQ8_0& b, int8x16_t* q0, int8x16_t* q1) {
  *q0 = vld1q_s8(b.qs);
  *q1 = vld1q_s8(b.qs + 16);
}
inline void Unpack(const BlockQ4_0& b, int8x16_t* q0, int8x16_t* q1) {
  uint8x16_t lo, hi;
  Nibbles(b.qs, &lo, &hi);
  const int8x16_t eight = vdupq_n_s8(8);
  *q0 = vsubq_s8(vreinterpretq_s8_u8(lo), eight);
  *q1 = vsubq_s8(vreinterpretq_s8_u8(hi), eight);
}
inline void Unpack(const BlockQ4_1& b, int8x16_t* q0, int8x16_t* q1) {
  uint8x16_t lo, hi;
  Nibbles(b.qs, &lo, &hi);
  *q0 = vreinterpretq_s8_u8(lo);
  *q1 = vreinterpretq_s8_u8(hi);
}
template <typename Block>  // BlockQ5_0 (offset 16) or BlockQ5_1 (offset 0)
inline void Unpack5Bits(const Block& b, int offset, int8x16_t* q0, int8x16_t* q1) {
  uint8x16_t lo, hi, lo5, hi5;
  Nibbles(b.qs, &lo, &hi);
  FifthBits(b.qh, &lo5, &hi5);
  const int8x16_t off = vdupq_n_s8(static_cast<int8_t>(offset));
  *q0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, lo5)), off);
  *q1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(hi, hi5)), off);
}
inline void Unpack(const BlockQ5_0& b, int8x16_t* q0, int8x16_t* q1) { Unpack5Bits(b, 16, q0, q1); }
inline void Unpack(const BlockQ5_1& b, int8x16_t* q0, int8x16_t* q1) { Unpack5Bits(b, 0, q0, q1); }

inline uint16_t MinOf(const BlockQ4_1& b) { return b.m; }
inline uint16_t MinOf(const BlockQ5_1& b) { return b.m; }
template <typename Block>
inline uint16_t MinOf(const Block&) {
  return 0;
}

// How the reference adds a block: Q8_0 / Q4_0 acc += d_w * d_x * isum (no fma; the ARM
// build does not contract), Q5_0 one fma, Q4_1 / Q5_1 a second fma for the minimum.
enum class BlockFloatSteps { kPlain, kFma, kFmaWithMin };

// y[t * w.rows + r] for rows [r0, r1) and every token t < n of a matrix of `Block`s
// against the Q8_0 activations xq [n, nb]; xsums [n, nb] are the sums of each activation
// block's quants (read only for the types with a minimum). scratch: n floats. kDecode:
// n == 1 with the accumulator a local (a register, not a load and store per block); the
// same float steps either way.
template <class BlockDot, typename Block, BlockFloatSteps kSteps, bool kDecode>
void BlockRowsImpl(const WeightView& w, size_t row_bytes, const BlockQ8_0* xq, const int32_t* xsums,
                   int64_t tokens, int64_t r0, int64_t r1, const float* fp16, float* scratch,
                   float* y) {
  const int64_t nb = w.cols / kQK8_0;
  const int64_t n = kDecode ? 1 : tokens;
  float single[1];
  float* acc = kDecode ? single : scratch;
  for (int64_t r = r0; r < r1; ++r) {
    const Block* wr = reinterpret_cast<const Block*>(w.data + r * row_bytes);
    for (int64_t t = 0; t < n; ++t) acc[t] = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int8x16_t q0, q1;
      Unpack(wr[b], &q0, &q1);
      const float dw = fp16[wr[b].d];
      const float mw = kSteps == BlockFloatSteps::kFmaWithMin ? fp16[MinOf(wr[b])] : 0.0f;
      for (int64_t t = 0; t < n; ++t) {
        const BlockQ8_0& xb = xq[t * nb + b];
        const float isum = static_cast<float>(Dot32<BlockDot>(q0, q1, xb.qs));
        const float dx = fp16[xb.d];
        if constexpr (kSteps == BlockFloatSteps::kPlain) {
          acc[t] += dw * dx * isum;
        } else {
          acc[t] = Fma(dw * dx, isum, acc[t]);
          if constexpr (kSteps == BlockFloatSteps::kFmaWithMin) {
            acc[t] = Fma(mw * dx, static_cast<float>(xsums[t * nb + b]), acc[t]);
          }
        }
      }
    }
    for (int64_t t = 0; t < n; ++t) y[t * w.rows + r] = acc[t];
  }
}

template <class BlockDot, typename Block, BlockFloatSteps kSteps>
void BlockRowsOf(const WeightView& w, size_t row_bytes, const BlockQ8_0* xq, const int32_t* xsums,
                 int64_t n, int64_t r0, int64_t r1, const float* fp16, float* scratch, float* y) {
  if (n == 1) {
    BlockRowsImpl<BlockDot, Block, kSteps, true>(w, row_bytes, xq, xsums, n, r0, r1, fp16, scratch,
                                                 y);
  } else {
    BlockRowsImpl<BlockDot, Block, kSteps, false>(w, row_bytes, xq, xsums, n, r0, r1, fp16, scratch,
                                                  y);
  }
}

// The Q8_0-activation types' rows (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), as BlockRowsImpl.
template <class BlockDot>
void BlockRows(const WeightView& w, size_t row_bytes, const BlockQ8_0* xq, const int32_t* xsums,
               int64_t n, int64_t r0, int64_t r1, const float* fp16, float* scratch, float* y) {
  using enum BlockFloatSteps;
  switch (w.type) {
    case GgmlType::kQ8_0:
      BlockRowsOf<BlockDot, BlockQ8_0, kPlain>(w, row_bytes, xq, xsums, n, r0, r1, fp16, scratch,
                                               y);
      break;
    case GgmlType::kQ4_0:
      BlockRowsOf<BlockDot, BlockQ4_0, kPlain>(w, row_bytes, xq, xsums, n, r0, r1, fp16, scratch,
                                               y);
      break;
    case GgmlType::kQ4_1:
      BlockRowsOf<BlockDot, BlockQ4_1, kFmaWithMin>(w, row_bytes, xq, xsums, n, r0, r1, fp16,
                                                    scratch, y);
      break;
    case GgmlType::kQ5_0:
      BlockRowsOf<BlockDot, BlockQ5_0, kFma>(w, row_bytes, xq, xsums, n, r0, r1, fp16, scratch, y);
      break;
    default:  // kQ5_1
      BlockRowsOf<BlockDot, BlockQ5_1, kFmaWithMin>(w, row_bytes, xq, xsums, n, r0, r1, fp16,
                                                    scratch, y);
      break;
  }
}

}  // namespace
}  // namespace tandem::matmul_internal::neon
