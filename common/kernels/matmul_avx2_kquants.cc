// AVX2 MatMul for the K-quant weights (Q4_K, Q5_K, Q6_K) against Q8_K activations: the
// decode kernel (n == 1) here, prompts (n > 1) through KQuantGemm
// (matmul_avx2_kquants_gemm.cc).
//
// Numerics: per 256-value super-block the integer parts of the dot product (sum over
// sub-blocks of scale * int dot, and the mins' or the -32 offset's share) are exact in
// int32 whatever order they are summed in; the float steps are two std::fma per block
// (one for Q6_K), in block order, exactly as the scalar reference (DotQ4_K ...) does. So
// every output equals the scalar reference's bit for bit, for any n, tiling or thread
// count: a row of x gives the same result in a prompt batch as alone (the kernel rule).
//
// Layout: a thread takes rows; DecodeRows unpacks each block in registers and reduces the
// int32 sums of a group of blocks together (fewer hadds), then does the float steps block
// by block as above.
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "common/kernels/fp16_table.h"
#include "common/kernels/matmul_avx2_internal.h"
#include "common/kernels/matmul_internal.h"

namespace tandem::matmul_internal::avx2 {
namespace {

// One token's Q8_K block, with the per-32 sums of its quants (Q4_K/Q5_K mins) or the
// per-16 sums (Q6_K).
struct alignas(16) ActBlock {
  const BlockQ8_K* x;
  int16_t pair_sums[8];  // bsums[2j] + bsums[2j + 1]
};

// Each block's quants are unpacked in registers and
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
// vectors reduced together, then the float steps in block order. Rows below prefetch_end
// are prefetched two rows ahead (past r1 when the caller goes on with the next rows).
template <typename Block>
void DecodeRows(const WeightView& w, const ActBlock* acts, int64_t r0, int64_t r1,
                int64_t prefetch_end, float* y) {
  constexpr bool kQ6 = sizeof(Block) == sizeof(BlockQ6_K);
  constexpr int kGroup = kQ6 ? 8 : 4;
  const float* table = Fp16ToFp32Table();
  const int64_t nb = w.cols / kQK_K;
  const size_t row_bytes = RowBytes(w.type, w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    const Block* row = reinterpret_cast<const Block*>(w.data + r * row_bytes);
    if (r + 2 < prefetch_end) {
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

constexpr int kRowGrain = 4;  // rows per task of the thread partition
// Small batches: rows whose weights stay in cache while every token of the batch passes.
constexpr int64_t kBatchRows = 16;

}  // namespace

void QuantizeActivationRowQ8K(const float* x, int64_t cols, BlockQ8_K* out) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i max_q = _mm256_set1_epi32(127);
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < cols / kQK_K; ++b, x += kQK_K) {
    BlockQ8_K& y = out[b];
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < kQK_K / 8; ++i)
      m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * i)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    if (!amax) {
      std::memset(&y, 0, sizeof(y));
      continue;
    }
    // The reference's max: the first value of the largest magnitude, with its sign.
    const __m256 amax8 = _mm256_set1_ps(amax);
    int first = 0;
    for (int i = 0; i < kQK_K / 8; ++i) {
      const int mask = _mm256_movemask_ps(
          _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * i)), amax8, _CMP_EQ_OQ));
      if (mask != 0) {
        first = 8 * i + __builtin_ctz(static_cast<unsigned>(mask));
        break;
      }
    }
    const float iscale = -127.f / x[first];
    const __m256 scale = _mm256_set1_ps(iscale);
    for (int c = 0; c < kQK_K / 32; ++c) {
      __m256i q[4];
      for (int i = 0; i < 4; ++i) {
        // cvtps rounds half to even, as the reference's NearestInt.
        q[i] = _mm256_min_epi32(
            _mm256_cvtps_epi32(_mm256_mul_ps(scale, _mm256_loadu_ps(x + 32 * c + 8 * i))), max_q);
      }
      const __m256i q01 = _mm256_packs_epi32(q[0], q[1]);
      const __m256i q23 = _mm256_packs_epi32(q[2], q[3]);
      const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23), order);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.qs + 32 * c), q8);
      // Lanes 0..3: sums of values 0..15 in fours; lanes 4..7: values 16..31.
      alignas(32) int32_t s[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(s),
                         _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q8), ones16));
      y.bsums[2 * c] = static_cast<int16_t>(s[0] + s[1] + s[2] + s[3]);
      y.bsums[2 * c + 1] = static_cast<int16_t>(s[4] + s[5] + s[6] + s[7]);
    }
    y.d = 1 / iscale;
  }
}

// Decode and small batches (n up to RowKernelMaxBatch): the decode kernel for each token,
// over kBatchRows rows at a time so the weights come from DRAM once; larger batches go to
// the GEMM, whose unpacking of the weights costs several tokens' worth of products.
void KQuantMatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (n > 1 && UseGemm(w.type, n, KernelCpuIsa())) {
    KQuantGemm(w, x, n, y, pool);
    return;
  }
  const int64_t nb = w.cols / kQK_K;
  thread_local std::vector<BlockQ8_K> xq;
  thread_local std::vector<ActBlock> acts;
  if (xq.size() < static_cast<size_t>(n * nb)) xq.resize(n * nb);
  acts.resize(n * nb);
  for (int64_t t = 0; t < n; ++t) {
    avx2::QuantizeActivationRowQ8K(x + t * w.cols, w.cols, xq.data() + t * nb);
  }
  for (int64_t i = 0; i < n * nb; ++i) {
    ActBlock& a = acts[i];
    a.x = &xq[i];
    for (int j = 0; j < 8; ++j) {
      a.pair_sums[j] = static_cast<int16_t>(a.x->bsums[2 * j] + a.x->bsums[2 * j + 1]);
    }
  }
  const ActBlock* shared = acts.data();
  pool.ParallelFor(w.rows, kRowGrain, [&](int64_t r0, int64_t r1) {
    for (int64_t rs = r0; rs < r1; rs += kBatchRows) {
      const int64_t re = rs + kBatchRows < r1 ? rs + kBatchRows : r1;
      for (int64_t t = 0; t < n; ++t) {
        const ActBlock* a = shared + t * nb;
        float* yt = y + t * w.rows;
        // The first token's pass streams the weights (prefetching on into the next
        // slice); the others find them in cache.
        const int64_t prefetch_end = t == 0 ? r1 : rs;
        switch (w.type) {
          case GgmlType::kQ4_K:
            DecodeRows<BlockQ4_K>(w, a, rs, re, prefetch_end, yt);
            break;
          case GgmlType::kQ5_K:
            DecodeRows<BlockQ5_K>(w, a, rs, re, prefetch_end, yt);
            break;
          default:
            DecodeRows<BlockQ6_K>(w, a, rs, re, prefetch_end, yt);
            break;
        }
      }
    }
  });
}

}  // namespace tandem::matmul_internal::avx2
