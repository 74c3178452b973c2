// AVX2 MatMul for Q4_1, Q5_0 and Q5_1 weights (llama.cpp's fallback types for rows that
// are not whole 256-value super-blocks, e.g. in Qwen2.5-0.5B Q4_K_M files) against Q8_0
// activations, decode (n == 1) and prompt (n > 1) alike.
//
// Numerics: per 32-value block the integer dot product is exact in int32 whatever order it
// is summed in; the float steps are the scalar reference's (DotQ4_1, DotQ5_0, DotQ5_1):
// acc = fma(d_w * d_x, isum, acc), then for the types with a minimum
// acc = fma(m_w * d_x, sum(x), acc), in block order. So every output equals the reference's bit for
// bit, for any n, tiling or thread count (the batch-invariance rule).
//
// Layout: a thread takes groups of 8 rows; per block the 8 rows are unpacked once to
// unsigned bytes in [0, 31] and multiplied with every token of the batch, the 8 rows'
// sums reduced into the 8 lanes of one register, where the float steps run.
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "common/kernels/fp16_table.h"
#include "common/kernels/matmul_avx2_internal.h"
#include "common/kernels/matmul_internal.h"

namespace tandem::matmul_internal::avx2 {
namespace {

constexpr int kRows = 8;  // rows per group, one per lane of the float steps

// Element j of the block as an unsigned byte at position j: the low nibbles of qs are
// elements 0..15, the high nibbles 16..31.
inline __m256i Nibbles(const uint8_t* qs) {
  const __m128i p = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(p, 4), p), _mm256_set1_epi8(0x0f));
}

// 16 at byte j where bit j of the little-endian qh is set, else 0: byte j picks byte j / 8
// of qh, then tests bit j % 8.
inline __m256i FifthBits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  const __m256i which_byte = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                              2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(0x8040201008040201);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), which_byte);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

template <typename Block>
constexpr bool kHasMin = !std::is_same_v<Block, BlockQ5_0>;

template <typename Block>
inline __m256i Unpack(const Block& b) {
  if constexpr (std::is_same_v<Block, BlockQ4_1>) {
    return Nibbles(b.qs);
  } else {
    return _mm256_or_si256(Nibbles(b.qs), FifthBits(b.qh));
  }
}

// One activation block: the quants, d as float, and the sum of the quants (for the
// minimum of Q4_1/Q5_1 and the -16 offset of Q5_0).
struct Act {
  const int8_t* q;
  float d;
  int32_t sum;
};

// The 8 rows' int32 dot products with one activation block, in lanes 0..7.
inline __m256i RowSums(const __m256i w[kRows], const int8_t* xq) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i s[kRows];
  // |pair sums| <= 2 * 31 * 128: int16 holds them.
  for (int r = 0; r < kRows; ++r) s[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(w[r], x), ones);
  const __m256i h0123 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
  const __m256i h4567 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                          _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

inline __m256 HalvesToFloats(const uint16_t h[kRows]) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));  // exact
}

// y[t, r0 .. r0 + count) for every token t, count <= kRows; missing rows repeat the last.
template <typename Block>
void Group(const WeightView& w, int64_t r0, int count, const std::vector<Act>& acts, int64_t n,
           std::vector<float>& acc, float* y) {
  const int64_t nb = w.cols / 32;
  const size_t row_bytes = RowBytes(w.type, w.cols);
  const Block* rows[kRows];
  for (int i = 0; i < kRows; ++i) {
    rows[i] =
        reinterpret_cast<const Block*>(w.data + (r0 + (i < count ? i : count - 1)) * row_bytes);
  }
  acc.assign(n * kRows, 0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    __m256i q[kRows];
    alignas(16) uint16_t d[kRows], m[kRows];
    for (int i = 0; i < kRows; ++i) {
      const Block& blk = rows[i][b];
      // The next group's rows stream in while this one computes (see PrefetchNextStep).
      if ((b & 1) == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(&blk) + kRows * row_bytes, _MM_HINT_T0);
      }
      q[i] = Unpack(blk);
      d[i] = blk.d;
      if constexpr (kHasMin<Block>) m[i] = blk.m;
    }
    const __m256 dw = HalvesToFloats(d);
    __m256 mw = _mm256_setzero_ps();
    if constexpr (kHasMin<Block>) mw = HalvesToFloats(m);
    for (int64_t t = 0; t < n; ++t) {
      const Act& a = acts[t * nb + b];
      __m256i isum = RowSums(q, a.q);
      if constexpr (!kHasMin<Block>) isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(16 * a.sum));
      const __m256 dx = _mm256_set1_ps(a.d);
      float* at = acc.data() + t * kRows;
      __m256 sum = _mm256_loadu_ps(at);
      sum = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(isum), sum);
      if constexpr (kHasMin<Block>) {
        const __m256 sx = _mm256_set1_ps(static_cast<float>(a.sum));
        sum = _mm256_fmadd_ps(_mm256_mul_ps(mw, dx), sx, sum);
      }
      _mm256_storeu_ps(at, sum);
    }
  }
  for (int64_t t = 0; t < n; ++t) {
    std::memcpy(y + t * w.rows + r0, acc.data() + t * kRows, sizeof(float) * count);
  }
}

template <typename Block>
void Rows(const WeightView& w, const std::vector<Act>& acts, int64_t n, int64_t r0, int64_t r1,
          float* y) {
  thread_local std::vector<float> acc;
  for (int64_t r = r0; r < r1; r += kRows) {
    Group<Block>(w, r, static_cast<int>(r1 - r < kRows ? r1 - r : kRows), acts, n, acc, y);
  }
}

}  // namespace

bool Q4_1Q5Supported(GgmlType type) {
  return type == GgmlType::kQ4_1 || type == GgmlType::kQ5_0 || type == GgmlType::kQ5_1;
}

void Q4_1Q5MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  const int64_t nb = w.cols / kQK8_0;
  const float* table = Fp16ToFp32Table();
  thread_local std::vector<BlockQ8_0> xq;
  thread_local std::vector<Act> acts;
  if (xq.size() < static_cast<size_t>(n * nb)) xq.resize(n * nb);
  acts.resize(n * nb);
  for (int64_t t = 0; t < n; ++t) {
    QuantizeActivationRow(x + t * w.cols, w.cols, xq.data() + t * nb);
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_0& blk = xq[t * nb + b];
      int32_t sum = 0;
      for (int j = 0; j < kQK8_0; ++j) sum += blk.qs[j];
      acts[t * nb + b] = {.q = blk.qs, .d = table[blk.d], .sum = sum};
    }
  }
  const std::vector<Act>& shared = acts;
  pool.ParallelFor(w.rows, kRows, [&](int64_t r0, int64_t r1) {
    switch (w.type) {
      case GgmlType::kQ4_1:
        Rows<BlockQ4_1>(w, shared, n, r0, r1, y);
        break;
      case GgmlType::kQ5_0:
        Rows<BlockQ5_0>(w, shared, n, r0, r1, y);
        break;
      default:
        Rows<BlockQ5_1>(w, shared, n, r0, r1, y);
        break;
    }
  });
}

}  // namespace tandem::matmul_internal::avx2
