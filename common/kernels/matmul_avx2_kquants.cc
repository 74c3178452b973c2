// AVX2 MatMul for the K-quant weights (Q4_K, Q5_K, Q6_K) against Q8_K activations, decode
// (n == 1) and prompt (n > 1) alike.
//
// Numerics: per 256-value super-block the integer parts of the dot product (sum over
// sub-blocks of scale * int dot, and the mins' or the -32 offset's share) are exact in
// int32 whatever order they are summed in; the float steps are two std::fma per block
// (one for Q6_K), in block order, exactly as the scalar reference (DotQ4_K ...) does. So
// every output equals the scalar reference's bit for bit, for any n, tiling or thread
// count: a row of x gives the same result in a prompt batch as alone (the kernel rule).
//
// Layout: a thread takes rows; for each super-block of a row the weights are unpacked
// once (to bytes in [0, 63] and 16-bit scale vectors, in L1) and then multiplied with
// every token of the batch, so prompt processing unpacks each block once, not n times.
// Decode (n == 1) skips that store and reload: DecodeRows unpacks each block in
// registers and reduces the int32 sums of a group of blocks together (fewer hadds), then
// does the float steps block by block as above.
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "common/kernels/fp16_table.h"
#include "common/kernels/matmul_avx2_internal.h"
#include "common/kernels/matmul_internal.h"

namespace tandem::matmul_internal::avx2 {
namespace {

// One super-block of one row, unpacked: q[j] holds the 32 quants of the j-th 32-value
// chunk as unsigned bytes, s[j] the scales for those 32 values as int16 (one per pair of
// bytes, the layout maddubs leaves), mins8 the Q4_K/Q5_K mins as int16 (Q6_K: unused).
struct alignas(32) UnpackedBlock {
  uint8_t q[8][32];
  int16_t s[8][16];
  int16_t mins8[8];
  float d;     // super-block scale
  float dmin;  // Q4_K/Q5_K: scale of the mins
};

// The 6-bit scales and mins of a Q4_K/Q5_K block: bytes 0..7 the scales, 8..15 the mins.
inline void DecodeKScales(const uint8_t* packed, uint8_t out[16]) {
  uint32_t u[4];
  std::memcpy(u, packed, 12);
  u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);  // mins 4..7
  const uint32_t mins_lo = u[1] & 0x3f3f3f3f;                             // mins 0..3
  u[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);         // scales 4..7
  u[2] = mins_lo;
  u[0] &= 0x3f3f3f3f;  // scales 0..3
  std::memcpy(out, u, 16);
}

inline void SetKScales(const uint8_t sm[16], UnpackedBlock* u) {
  for (int j = 0; j < 8; ++j) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(u->s[j]), _mm256_set1_epi16(sm[j]));
    u->mins8[j] = sm[8 + j];
  }
}

void Unpack(const BlockQ4_K& w, UnpackedBlock* u) {
  const float* table = Fp16ToFp32Table();
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int g = 0; g < 4; ++g) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * g));
    _mm256_store_si256(reinterpret_cast<__m256i*>(u->q[2 * g]), _mm256_and_si256(q, low4));
    _mm256_store_si256(reinterpret_cast<__m256i*>(u->q[2 * g + 1]),
                       _mm256_and_si256(_mm256_srli_epi16(q, 4), low4));
  }
  uint8_t sm[16];
  DecodeKScales(w.scales, sm);
  SetKScales(sm, u);
  u->d = table[w.d];
  u->dmin = table[w.dmin];
}

void Unpack(const BlockQ5_K& w, UnpackedBlock* u) {
  const float* table = Fp16ToFp32Table();
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i one = _mm256_set1_epi8(1);
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qh));
  for (int g = 0; g < 4; ++g) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * g));
    // Bit j of qh[l] is the fifth bit of sub-block j's element l; within a byte, so a
    // 16-bit shift and a byte mask pick it.
    const __m256i h0 =
        _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * g)), one), 4);
    const __m256i h1 = _mm256_slli_epi16(
        _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * g + 1)), one), 4);
    _mm256_store_si256(reinterpret_cast<__m256i*>(u->q[2 * g]),
                       _mm256_or_si256(_mm256_and_si256(q, low4), h0));
    _mm256_store_si256(reinterpret_cast<__m256i*>(u->q[2 * g + 1]),
                       _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), h1));
  }
  uint8_t sm[16];
  DecodeKScales(w.scales, sm);
  SetKScales(sm, u);
  u->d = table[w.d];
  u->dmin = table[w.dmin];
}

// Q6_K: q in [0, 63] unsigned (the -32 comes back through the activation sums); chunk j
// covers sub-blocks 2j and 2j + 1, so its scale vector holds two scales, 8 lanes each.
void Unpack(const BlockQ6_K& w, UnpackedBlock* u) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i three = _mm256_set1_epi8(3);
  for (int h = 0; h < 2; ++h) {
    const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.ql + 64 * h));
    const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.ql + 64 * h + 32));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qh + 32 * h));
    auto high = [&](int shift) {
      return _mm256_slli_epi16(
          _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift)), three), 4);
    };
    const __m256i q0 = _mm256_or_si256(_mm256_and_si256(ql0, low4), high(0));
    const __m256i q1 = _mm256_or_si256(_mm256_and_si256(ql1, low4), high(2));
    const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), high(4));
    const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), high(6));
    _mm256_store_si256(reinterpret_cast<__m256i*>(u->q[4 * h]), q0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(u->q[4 * h + 1]), q1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(u->q[4 * h + 2]), q2);
    _mm256_store_si256(reinterpret_cast<__m256i*>(u->q[4 * h + 3]), q3);
  }
  for (int j = 0; j < 8; ++j) {
    const __m128i a = _mm_set1_epi16(w.scales[2 * j]);
    const __m128i b = _mm_set1_epi16(w.scales[2 * j + 1]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(u->s[j]), _mm256_set_m128i(b, a));
  }
  u->d = Fp16ToFp32Table()[w.d];
}

// One token's Q8_K block, with the per-32 sums of its quants (Q4_K/Q5_K mins) or the
// per-16 sums (Q6_K), prepared once per batch.
struct alignas(16) ActBlock {
  const BlockQ8_K* x;
  int16_t pair_sums[8];  // bsums[2j] + bsums[2j + 1]
};

// sum_j s_j * dot(q_j, x_j) over the 8 chunks, as 8 int32 lanes.
inline __m256i ScaledDots(const UnpackedBlock& u, const BlockQ8_K& x) {
  __m256i acc = _mm256_setzero_si256();
  for (int j = 0; j < 8; ++j) {
    const __m256i q = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.q[j]));
    const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * j));
    const __m256i s = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.s[j]));
    // maddubs: q <= 63 and |x| <= 127 keep each int16 pair sum exact.
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q, xq), s));
  }
  return acc;
}

// Sums of 8 int32 lanes (a) and 4 int32 lanes (b).
inline void Reduce2(__m256i a, __m128i b, int32_t* sa, int32_t* sb) {
  const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  __m128i h = _mm_hadd_epi32(s, b);  // [s0+s1, s2+s3, b0+b1, b2+b3]
  h = _mm_hadd_epi32(h, h);          // [S, B, S, B]
  *sa = _mm_cvtsi128_si32(h);
  *sb = _mm_extract_epi32(h, 1);
}

// acc[t] += this block's share for tokens [0, nt) (the float steps of DotQ4_K).
void BlockQ45(const UnpackedBlock& u, const ActBlock* acts, int nt, float* acc) {
  const __m128i mins = _mm_load_si128(reinterpret_cast<const __m128i*>(u.mins8));
  for (int t = 0; t < nt; ++t) {
    const BlockQ8_K& x = *acts[t].x;
    const __m128i ps = _mm_load_si128(reinterpret_cast<const __m128i*>(acts[t].pair_sums));
    int32_t scaled, msum;
    Reduce2(ScaledDots(u, x), _mm_madd_epi16(mins, ps), &scaled, &msum);
    acc[t] = std::fma(x.d * u.d, static_cast<float>(scaled), acc[t]);
    acc[t] = std::fma(-(x.d * u.dmin), static_cast<float>(msum), acc[t]);
  }
}

// Q6_K: scaled = sum_j sc_j * (dot(q, x) - 32 * bsum_j).
void BlockQ6(const UnpackedBlock& u, const ActBlock* acts, int nt, float* acc) {
  for (int t = 0; t < nt; ++t) {
    const BlockQ8_K& x = *acts[t].x;
    __m256i sum = ScaledDots(u, x);
    // The offset: sc_j * bsums[j] for the 16 sub-blocks (scales as int16, per 16 values).
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums));
    __m256i sc16 = _mm256_setzero_si256();
    alignas(32) int16_t s16[16];
    for (int j = 0; j < 16; ++j) s16[j] = u.s[j / 2][(j % 2) * 8];
    sc16 = _mm256_load_si256(reinterpret_cast<const __m256i*>(s16));
    sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5));
    int32_t scaled, unused;
    Reduce2(sum, _mm_setzero_si128(), &scaled, &unused);
    acc[t] = std::fma(x.d * u.d, static_cast<float>(scaled), acc[t]);
  }
}

// Decode (n == 1): no UnpackedBlock. Each block's quants are unpacked in registers and
// its scales broadcast from a register; the block leaves 8 int32 lanes (and 8 more for
// the mins) whose sum is its integer part, and a group of blocks is reduced together.

// Lane k of the result: the sum of the 8 lanes of v[k].
inline __m256i HSum8x8(const __m256i v[8]) {
  const __m256i a = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i b = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i c = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i d = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i ab = _mm256_hadd_epi32(a, b);  // [v0..v3 low halves | v0..v3 high halves]
  const __m256i cd = _mm256_hadd_epi32(c, d);
  return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20),
                          _mm256_permute2x128_si256(ab, cd, 0x31));
}

// pshufb masks: m[j] (j < 8) copies int16 lane j of each 128-bit half to all its 8 lanes;
// m[8 + k] copies lane 2k in the low half and lane 2k + 1 in the high half.
struct ShuffleMasks {
  alignas(32) uint8_t m[12][32];
};
constexpr ShuffleMasks MakeShuffleMasks() {
  ShuffleMasks s{};
  for (int j = 0; j < 12; ++j) {
    for (int i = 0; i < 32; ++i) {
      const int lane = j < 8 ? j : 2 * (j - 8) + (i >= 16 ? 1 : 0);
      s.m[j][i] = static_cast<uint8_t>(2 * lane + (i & 1));
    }
  }
  return s;
}
constexpr ShuffleMasks kShuffle = MakeShuffleMasks();

inline __m256i Broadcast16(__m256i v, int j) {
  return _mm256_shuffle_epi8(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(kShuffle.m[j])));
}
inline __m256i Broadcast16Pair(__m256i v, int k) { return Broadcast16(v, 8 + k); }

// The scales of a Q4_K/Q5_K block as int16 in both halves (*sc), and its mins' share:
// 8 int32 lanes summing to sum_j m_j * pair_sums_j (*m).
inline void KScalesAndMins(const uint8_t* packed, const ActBlock& a, __m256i* sc, __m256i* m) {
  uint32_t u[4];
  std::memcpy(u, packed, 12);
  const uint32_t s03 = u[0] & 0x3f3f3f3f;
  const uint32_t s47 = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
  const uint32_t m03 = u[1] & 0x3f3f3f3f;
  const uint32_t m47 = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
  // int16 lanes 0..7 the scales, 8..15 the mins.
  const __m256i sm16 = _mm256_cvtepu8_epi16(_mm_set_epi32(m47, m03, s47, s03));
  *sc = _mm256_permute4x64_epi64(sm16, 0x44);
  const __m256i ps = _mm256_inserti128_si256(
      _mm256_setzero_si256(), _mm_load_si128(reinterpret_cast<const __m128i*>(a.pair_sums)), 1);
  *m = _mm256_madd_epi16(sm16, ps);
}

// Chunks 2g and 2g + 1 (quants lo, hi) against x, scaled by sc's lanes 2g and 2g + 1.
inline __m256i ScaledPair(__m256i lo, __m256i hi, const int8_t* x, __m256i sc, int g) {
  const __m256i p0 =
      _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
  const __m256i p1 =
      _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32)));
  return _mm256_add_epi32(_mm256_madd_epi16(p0, Broadcast16(sc, 2 * g)),
                          _mm256_madd_epi16(p1, Broadcast16(sc, 2 * g + 1)));
}

inline void BlockSums(const BlockQ4_K& w, const ActBlock& a, __m256i* s, __m256i* m) {
  __m256i sc;
  KScalesAndMins(w.scales, a, &sc, m);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * g));
    const __m256i lo = _mm256_and_si256(q, low4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    acc = _mm256_add_epi32(acc, ScaledPair(lo, hi, a.x->qs + 64 * g, sc, g));
  }
  *s = acc;
}

inline void BlockSums(const BlockQ5_K& w, const ActBlock& a, __m256i* s, __m256i* m) {
  __m256i sc;
  KScalesAndMins(w.scales, a, &sc, m);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qh));
  __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    // Bits 0 and 1 of each byte of qh (shifted by 2g) are the fifth bits of chunks 2g and
    // 2g + 1; the 16-bit shifts carry other bytes' bits only outside bit 4.
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * g));
    const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, low4),
                                       _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4));
    const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4),
                                       _mm256_and_si256(_mm256_slli_epi16(qh, 3), bit4));
    acc = _mm256_add_epi32(acc, ScaledPair(lo, hi, a.x->qs + 64 * g, sc, g));
    qh = _mm256_srli_epi16(qh, 2);
  }
  *s = acc;
}

// Q6_K: 8 int32 lanes summing to sum_j sc_j * (dot(q, x) - 32 * bsum_j).
inline __m256i BlockSum(const BlockQ6_K& w, const BlockQ8_K& x) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  // The 16 scales as int16; chunk j's scale vector holds sc_2j (low half) and sc_2j+1.
  const __m256i sc16 =
      _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales)));
  const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums));
  __m256i acc = _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5);
  acc = _mm256_sub_epi32(_mm256_setzero_si256(), acc);
  // sc_e: the even scales in both halves' int16 lanes 0..3 -> pairs (sc_2j, sc_2j+1) by half.
  const __m256i lo_sc = _mm256_permute4x64_epi64(sc16, 0x44);  // sc0..sc7 in both halves
  const __m256i hi_sc = _mm256_permute4x64_epi64(sc16, 0xee);  // sc8..sc15 in both halves
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.ql + 64 * h));
    const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.ql + 64 * h + 32));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qh + 32 * h));
    const __m256i q[4] = {
        _mm256_or_si256(_mm256_and_si256(ql0, low4),
                        _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
        _mm256_or_si256(_mm256_and_si256(ql1, low4),
                        _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                        _mm256_and_si256(qh, bits45)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                        _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)),
    };
    const __m256i sc = h == 0 ? lo_sc : hi_sc;
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m256i xq =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 128 * h + 32 * k));
      acc = _mm256_add_epi32(
          acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], xq), Broadcast16Pair(sc, k)));
    }
  }
  return acc;
}

// y[r] for rows [r0, r1) of w against one activation row (n == 1). The blocks of a row go
// in groups (4 for Q4_K/Q5_K, whose blocks give two sums, 8 for Q6_K), the group's int32
// vectors reduced together, then the float steps in block order.
template <typename Block>
void DecodeRows(const WeightView& w, const ActBlock* acts, int64_t r0, int64_t r1, float* y) {
  constexpr bool kQ6 = sizeof(Block) == sizeof(BlockQ6_K);
  constexpr int kGroup = kQ6 ? 8 : 4;
  const float* table = Fp16ToFp32Table();
  const int64_t nb = w.cols / kQK_K;
  const size_t row_bytes = RowBytes(w.type, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    const Block* row = reinterpret_cast<const Block*>(w.data + r * row_bytes);
    if (r + 2 < r1) {
      const char* next = reinterpret_cast<const char*>(w.data + (r + 2) * row_bytes);
      for (size_t off = 0; off < row_bytes; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
    }
    float acc = 0.0f;
    for (int64_t b0 = 0; b0 < nb; b0 += kGroup) {
      const int cnt = static_cast<int>(nb - b0 < kGroup ? nb - b0 : kGroup);
      __m256i v[8];
#pragma GCC unroll 8
      for (int k = 0; k < kGroup; ++k) {
        if (k < cnt) {
          if constexpr (kQ6) {
            v[k] = BlockSum(row[b0 + k], *acts[b0 + k].x);
          } else {
            BlockSums(row[b0 + k], acts[b0 + k], &v[k], &v[4 + k]);
          }
        } else {
          v[k] = _mm256_setzero_si256();
          if constexpr (!kQ6) v[4 + k] = _mm256_setzero_si256();
        }
      }
      alignas(32) float f[8];
      _mm256_store_ps(f, _mm256_cvtepi32_ps(HSum8x8(v)));
      for (int k = 0; k < cnt; ++k) {
        const Block& wb = row[b0 + k];
        const float xd = acts[b0 + k].x->d;
        acc = std::fma(xd * table[wb.d], f[k], acc);
        if constexpr (!kQ6) acc = std::fma(-(xd * table[wb.dmin]), f[4 + k], acc);
      }
    }
    y[r] = acc;
  }
}

constexpr int kTokenChunk = 16;  // tokens whose accumulators live on the stack at once
constexpr int kRowGrain = 4;     // rows per task of the thread partition

template <typename Block>
void Rows(const WeightView& w, const std::vector<ActBlock>& acts, int64_t n, int64_t r0, int64_t r1,
          float* y) {
  const int64_t nb = w.cols / kQK_K;
  const size_t row_bytes = RowBytes(w.type, w.cols);
  UnpackedBlock u;
  for (int64_t r = r0; r < r1; ++r) {
    const Block* row = reinterpret_cast<const Block*>(w.data + r * row_bytes);
    if (r + 2 < r1) {
      const char* next = reinterpret_cast<const char*>(w.data + (r + 2) * row_bytes);
      for (size_t off = 0; off < row_bytes; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
    }
    for (int64_t t0 = 0; t0 < n; t0 += kTokenChunk) {
      const int nt = static_cast<int>(n - t0 < kTokenChunk ? n - t0 : kTokenChunk);
      float acc[kTokenChunk] = {};
      ActBlock chunk[kTokenChunk];
      for (int64_t b = 0; b < nb; ++b) {
        Unpack(row[b], &u);
        for (int t = 0; t < nt; ++t) chunk[t] = acts[(t0 + t) * nb + b];
        if constexpr (sizeof(Block) == sizeof(BlockQ6_K)) {
          BlockQ6(u, chunk, nt, acc);
        } else {
          BlockQ45(u, chunk, nt, acc);
        }
      }
      for (int t = 0; t < nt; ++t) y[(t0 + t) * w.rows + r] = acc[t];
    }
  }
}

}  // namespace

void KQuantMatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  const int64_t nb = w.cols / kQK_K;
  thread_local std::vector<BlockQ8_K> xq;
  thread_local std::vector<ActBlock> acts;
  if (xq.size() < static_cast<size_t>(n * nb)) xq.resize(n * nb);
  acts.resize(n * nb);
  for (int64_t t = 0; t < n; ++t) {
    QuantizeActivationRowQ8K(x + t * w.cols, w.cols, xq.data() + t * nb);
    for (int64_t b = 0; b < nb; ++b) {
      ActBlock& a = acts[t * nb + b];
      a.x = &xq[t * nb + b];
      for (int j = 0; j < 8; ++j) {
        a.pair_sums[j] = static_cast<int16_t>(a.x->bsums[2 * j] + a.x->bsums[2 * j + 1]);
      }
    }
  }
  const std::vector<ActBlock>& shared = acts;
  if (n == 1) {
    pool.ParallelFor(w.rows, kRowGrain, [&](int64_t r0, int64_t r1) {
      switch (w.type) {
        case GgmlType::kQ4_K:
          DecodeRows<BlockQ4_K>(w, shared.data(), r0, r1, y);
          break;
        case GgmlType::kQ5_K:
          DecodeRows<BlockQ5_K>(w, shared.data(), r0, r1, y);
          break;
        default:
          DecodeRows<BlockQ6_K>(w, shared.data(), r0, r1, y);
          break;
      }
    });
    return;
  }
  pool.ParallelFor(w.rows, kRowGrain, [&](int64_t r0, int64_t r1) {
    switch (w.type) {
      case GgmlType::kQ4_K:
        Rows<BlockQ4_K>(w, shared, n, r0, r1, y);
        break;
      case GgmlType::kQ5_K:
        Rows<BlockQ5_K>(w, shared, n, r0, r1, y);
        break;
      default:
        Rows<BlockQ6_K>(w, shared, n, r0, r1, y);
        break;
    }
  });
}

}  // namespace tandem::matmul_internal::avx2
