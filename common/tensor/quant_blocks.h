// Quantized block layouts, byte-for-byte as ggml defines them (ggml-common.h), so GGUF
// files written by llama.cpp load unchanged.
#pragma once

#include <cstdint>

namespace tandem {

inline constexpr int kQK8_0 = 32;
inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
// Values per K-quant super-block.
inline constexpr int kQK_K = 256;
// Bytes of the packed 6-bit scales and mins of Q4_K / Q5_K (8 of each).
inline constexpr int kKScaleBytes = 12;

// 32 weights as int8 with one scale: value = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;         // scale, IEEE half precision
  int8_t qs[kQK8_0];  // quants
};
static_assert(sizeof(BlockQ8_0) == 34, "BlockQ8_0 must match ggml's block_q8_0");

// 32 weights as 4-bit unsigned nibbles with one scale: value = d * (q - 8).
// Byte j holds element j in its low nibble and element j + 16 in its high nibble.
struct BlockQ4_0 {
  uint16_t d;              // scale, IEEE half precision
  uint8_t qs[kQK4_0 / 2];  // nibbles
};
static_assert(sizeof(BlockQ4_0) == 18, "BlockQ4_0 must match ggml's block_q4_0");

// 32 weights as 4-bit nibbles with a scale and a minimum: value = d * q + m.
// Nibble order as Q4_0.
struct BlockQ4_1 {
  uint16_t d;              // scale, half
  uint16_t m;              // minimum (the value of q = 0), half
  uint8_t qs[kQK4_1 / 2];  // nibbles
};
static_assert(sizeof(BlockQ4_1) == 20, "BlockQ4_1 must match ggml's block_q4_1");

// 32 weights as 5-bit values with one scale: value = d * (q - 16). The low 4 bits are
// nibbles as in Q4_0; bit j of qh (little-endian uint32) is the fifth bit of element j.
struct BlockQ5_0 {
  uint16_t d;              // scale, half
  uint8_t qh[4];           // fifth bits
  uint8_t qs[kQK5_0 / 2];  // low nibbles
};
static_assert(sizeof(BlockQ5_0) == 22, "BlockQ5_0 must match ggml's block_q5_0");

// 32 weights as 5-bit values with a scale and a minimum: value = d * q + m.
struct BlockQ5_1 {
  uint16_t d;              // scale, half
  uint16_t m;              // minimum, half
  uint8_t qh[4];           // fifth bits (as Q5_0)
  uint8_t qs[kQK5_1 / 2];  // low nibbles
};
static_assert(sizeof(BlockQ5_1) == 24, "BlockQ5_1 must match ggml's block_q5_1");

// 256 weights in 8 sub-blocks of 32, each with a 6-bit scale sc and min m:
// value = d * sc * q - dmin * m, q in [0, 15]. scales[12] packs (sc, m) of sub-block j:
// j < 4: sc = scales[j] & 63, m = scales[j + 4] & 63; j >= 4: the low 4 bits in
// scales[j + 4] (sc low nibble, m high nibble), the high 2 bits in the top bits of
// scales[j - 4] (sc) and scales[j] (m). Byte l of 32-byte group g holds element
// 64g + l (low nibble) and 64g + 32 + l (high nibble).
struct BlockQ4_K {
  uint16_t d;                    // super-block scale of the scales, half
  uint16_t dmin;                 // super-block scale of the mins, half
  uint8_t scales[kKScaleBytes];  // 6-bit scales and mins
  uint8_t qs[kQK_K / 2];         // nibbles
};
static_assert(sizeof(BlockQ4_K) == 144, "BlockQ4_K must match ggml's block_q4_K");

// As Q4_K with a fifth bit: q in [0, 31]. Bit 2g of qh[l] is the fifth bit of element
// 64g + l, bit 2g + 1 that of element 64g + 32 + l.
struct BlockQ5_K {
  uint16_t d;                    // super-block scale of the scales, half
  uint16_t dmin;                 // super-block scale of the mins, half
  uint8_t scales[kKScaleBytes];  // 6-bit scales and mins (as Q4_K)
  uint8_t qh[kQK_K / 8];         // fifth bits
  uint8_t qs[kQK_K / 2];         // low nibbles (as Q4_K)
};
static_assert(sizeof(BlockQ5_K) == 176, "BlockQ5_K must match ggml's block_q5_K");

// 256 weights in 16 sub-blocks of 16 with int8 scales: value = d * sc * (q - 32), q in
// [0, 63]. Per 128-value half h: element 128h + 32k + l (k = 0..3, l = 0..31) has its
// low 4 bits in ql[64h + l + 32 * (k & 1)] (low nibble for k < 2, high for k >= 2) and
// its high 2 bits at bit 2k of qh[32h + l]. Sub-block of element i is i / 16.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low 4 bits
  uint8_t qh[kQK_K / 4];      // high 2 bits
  int8_t scales[kQK_K / 16];  // sub-block scales
  uint16_t d;                 // super-block scale, half
};
static_assert(sizeof(BlockQ6_K) == 210, "BlockQ6_K must match ggml's block_q6_K");

// Activations for the K-quant dot products: 256 values as int8 with a float scale,
// value = d * qs[i], and the sums of each 16 quants (for the mins and offsets).
struct BlockQ8_K {
  float d;                    // scale
  int8_t qs[kQK_K];           // quants
  int16_t bsums[kQK_K / 16];  // sum of qs[16i .. 16i + 15]
};
static_assert(sizeof(BlockQ8_K) == 292, "BlockQ8_K must match ggml's block_q8_K");

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block (ggml's
// get_scale_min_k4).
inline void KScaleMin(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Quant l (0..31) of sub-block j (0..7) of a Q4_K block: the low (even j) or high (odd j)
// nibbles of qs[32 * (j / 2)..].
inline int Q4_KQuant(const BlockQ4_K& b, int j, int l) {
  return (b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f;
}

// The same for Q5_K, whose fifth bit of sub-block j is bit j of qh[l].
inline int Q5_KQuant(const BlockQ5_K& b, int j, int l) {
  return ((b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f) | (((b.qh[l] >> j) & 1) << 4);
}

}  // namespace tandem
