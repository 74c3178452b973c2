// AVX-512 VNNI row kernels for Q4_0 and Q8_0 weights: decode (n == 1) and small decode batches.
// Called only when KernelCpuIsa() is kAvx512Vnni.
//
// The GEMM (matmul_avx512_gemm.cc) transposes each 16-row group per call, which costs
// several tokens' worth of multiplies and does not pay off for a few tokens. These kernels
// read the weights as stored: one zmm holds the 16 packed bytes of 4 rows' block (one row
// per 128-bit lane), unpacked once per block and dotted by vpdpbusd with up to
// kRowTokens tokens' activations (broadcast to the 4 lanes). Each row's 4 int32 partial
// sums are reduced with two rounds of unpack + add, which leaves the 16 rows' exact block
// sums in one zmm; the float steps per block are those of every other kernel:
// acc = fma(d_w * d_x, float(block sum), acc) in block order, so the results are
// bit-identical to the AVX2 kernels' and to this kernel's for any other token count.
//
// Compiled for AVX-512 only through avx512_target_push.h after the includes, as
// matmul_avx512_gemm.cc.
#include <immintrin.h>

#include <cstring>
#include <utility>
#include <vector>

#include "common/kernels/matmul_avx2_internal.h"
#include "common/kernels/matmul_internal.h"

// clang-format off: after every other include
#include "common/kernels/avx512_target_push.h"  // last include: kernels below
// clang-format on

namespace tandem::matmul_internal::avx512 {
namespace {

constexpr int kGroupRows = 16;  // rows per step, one per lane of the result
constexpr int kRowTokens = 8;   // tokens per pass over a row group
constexpr int kGrain = 16;      // row grain of the thread partition

// Q4_0, 16 rows x T tokens. rows[16] are the block pointers of the group's rows; a[t] the
// tokens' prepared activations (xa.lo / xa.hi: x[0..15] / x[16..31]; xa.corr lanes 0..3:
// -8 times the sum of the values meeting dword j, which takes the nibbles' offset out).
template <int T>
void Q4_0Rows16(const BlockQ4_0* const* rows, const avx2::ActivationRow* a, int64_t nb,
                bool prefetch, __m512* out) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512i lo[4], hi[4];
    for (int g = 0; g < 4; ++g) {
      __m512i p = _mm512_castsi128_si512(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[4 * g][b].qs)));
      p = _mm512_inserti32x4(
          p, _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[4 * g + 1][b].qs)), 1);
      p = _mm512_inserti32x4(
          p, _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[4 * g + 2][b].qs)), 2);
      p = _mm512_inserti32x4(
          p, _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[4 * g + 3][b].qs)), 3);
      lo[g] = _mm512_and_si512(p, low4);
      hi[g] = _mm512_and_si512(_mm512_srli_epi16(p, 4), low4);
    }
    // The next group's rows stream in while this one is multiplied (two 18-byte blocks per
    // prefetch are enough), as in the AVX2 decode kernels.
    if (prefetch && (b & 1) == 0) {
      for (int i = 0; i < kGroupRows; ++i) {
        _mm_prefetch(
            reinterpret_cast<const char*>(rows[i] + b) + kGroupRows * nb * sizeof(BlockQ4_0),
            _MM_HINT_T0);
      }
    }
    // Element e of the reduced sums holds row 4 * (e % 4) + e / 4 (see below).
    const __m512 dw = _mm512_cvtph_ps(_mm256_setr_epi16(
        static_cast<int16_t>(rows[0][b].d), static_cast<int16_t>(rows[4][b].d),
        static_cast<int16_t>(rows[8][b].d), static_cast<int16_t>(rows[12][b].d),
        static_cast<int16_t>(rows[1][b].d), static_cast<int16_t>(rows[5][b].d),
        static_cast<int16_t>(rows[9][b].d), static_cast<int16_t>(rows[13][b].d),
        static_cast<int16_t>(rows[2][b].d), static_cast<int16_t>(rows[6][b].d),
        static_cast<int16_t>(rows[10][b].d), static_cast<int16_t>(rows[14][b].d),
        static_cast<int16_t>(rows[3][b].d), static_cast<int16_t>(rows[7][b].d),
        static_cast<int16_t>(rows[11][b].d), static_cast<int16_t>(rows[15][b].d)));
    for (int t = 0; t < T; ++t) {
      const avx2::Q4Activation& xa = a[t].q4[b];
      const __m512i xlo =
          _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(xa.lo)));
      const __m512i xhi =
          _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(xa.hi)));
      const __m512i corr =
          _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(xa.corr)));
      // s[g], 128-bit lane k: row 4g + k's partial sums of dwords j = 0..3 (values 4j..4j+3
      // and 16+4j..16+4j+3).
      __m512i s[4];
      for (int g = 0; g < 4; ++g) {
        s[g] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(corr, lo[g], xlo), hi[g], xhi);
      }
      // Lane k: [s0 02, s1 02, s0 13, s1 13] (02: dwords 0 + 2), then the same for s2, s3,
      // then dword j = the whole sum of s[j]'s lane k, row 4j + k.
      const __m512i a01 =
          _mm512_add_epi32(_mm512_unpacklo_epi32(s[0], s[1]), _mm512_unpackhi_epi32(s[0], s[1]));
      const __m512i a23 =
          _mm512_add_epi32(_mm512_unpacklo_epi32(s[2], s[3]), _mm512_unpackhi_epi32(s[2], s[3]));
      const __m512i isum =
          _mm512_add_epi32(_mm512_unpacklo_epi64(a01, a23), _mm512_unpackhi_epi64(a01, a23));
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(a[t].d[b]));
      acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(isum), acc[t]);
    }
  }
  // Back to row order: row r is element 4 * (r % 4) + r / 4.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  for (int t = 0; t < T; ++t) out[t] = _mm512_permutexvar_ps(order, acc[t]);
}

// Q8_0, 16 rows x T tokens. w[i] holds rows i (low 256 bits) and i + 8 (high). vpdpbusd
// wants an unsigned operand: x + 128 (x xor 0x80) against the signed weights, with each
// int32 lane starting at -128 times the sum of its 4 weights (computed once per block for
// all tokens), which takes the offset out exactly.
template <int T>
void Q8_0Rows16(const BlockQ8_0* const* rows, const avx2::ActivationRow* a, int64_t nb,
                bool prefetch, __m512* out) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512i w[8], init[8];
    for (int i = 0; i < 8; ++i) {
      w[i] = _mm512_inserti64x4(
          _mm512_castsi256_si512(
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[i][b].qs))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[i + 8][b].qs)), 1);
      init[i] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                 _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, w[i]));
    }
    if (prefetch) {
      for (int i = 0; i < kGroupRows; ++i) {
        _mm_prefetch(
            reinterpret_cast<const char*>(rows[i] + b) + kGroupRows * nb * sizeof(BlockQ8_0),
            _MM_HINT_T0);
      }
    }
    // Element e of the reduced sums holds row {0, 8, 4, 12}[e / 4] + e % 4 (see below).
    const __m512 dw = _mm512_cvtph_ps(_mm256_setr_epi16(
        static_cast<int16_t>(rows[0][b].d), static_cast<int16_t>(rows[1][b].d),
        static_cast<int16_t>(rows[2][b].d), static_cast<int16_t>(rows[3][b].d),
        static_cast<int16_t>(rows[8][b].d), static_cast<int16_t>(rows[9][b].d),
        static_cast<int16_t>(rows[10][b].d), static_cast<int16_t>(rows[11][b].d),
        static_cast<int16_t>(rows[4][b].d), static_cast<int16_t>(rows[5][b].d),
        static_cast<int16_t>(rows[6][b].d), static_cast<int16_t>(rows[7][b].d),
        static_cast<int16_t>(rows[12][b].d), static_cast<int16_t>(rows[13][b].d),
        static_cast<int16_t>(rows[14][b].d), static_cast<int16_t>(rows[15][b].d)));
    for (int t = 0; t < T; ++t) {
      const __m512i xu = _mm512_xor_si512(_mm512_broadcast_i64x4(_mm256_loadu_si256(
                                              reinterpret_cast<const __m256i*>(a[t].q[b].qs))),
                                          bias);
      __m512i s[8];
      for (int i = 0; i < 8; ++i) s[i] = _mm512_dpbusd_epi32(init[i], xu, w[i]);
      // Per 128-bit lane, pairs of zmm: [si 02, sj 02, si 13, sj 13]; then quads: lane k
      // of b0123 = the lane sums of s0..s3 (lanes 0, 1: rows 0..3 halves; 2, 3: rows
      // 8..11), b4567 the same for s4..s7 (rows 4..7, 12..15); then the two halves of
      // each row added.
      __m512i p[4];
      for (int i = 0; i < 4; ++i) {
        p[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(s[2 * i], s[2 * i + 1]),
                                _mm512_unpackhi_epi32(s[2 * i], s[2 * i + 1]));
      }
      const __m512i b0123 =
          _mm512_add_epi32(_mm512_unpacklo_epi64(p[0], p[1]), _mm512_unpackhi_epi64(p[0], p[1]));
      const __m512i b4567 =
          _mm512_add_epi32(_mm512_unpacklo_epi64(p[2], p[3]), _mm512_unpackhi_epi64(p[2], p[3]));
      // Lanes [b0123 0, b0123 2, b4567 0, b4567 2] + [b0123 1, b0123 3, b4567 1, b4567 3]:
      // rows 0..3, 8..11, 4..7, 12..15.
      const __m512i isum = _mm512_add_epi32(_mm512_shuffle_i64x2(b0123, b4567, 0x88),
                                            _mm512_shuffle_i64x2(b0123, b4567, 0xdd));
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(a[t].d[b]));
      acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(isum), acc[t]);
    }
  }
  // Back to row order.
  const __m512i order = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15);
  for (int t = 0; t < T; ++t) out[t] = _mm512_permutexvar_ps(order, acc[t]);
}

template <int T>
void Rows16(const BlockQ4_0* const* rows, const avx2::ActivationRow* a, int64_t nb, bool prefetch,
            __m512* out) {
  Q4_0Rows16<T>(rows, a, nb, prefetch, out);
}
template <int T>
void Rows16(const BlockQ8_0* const* rows, const avx2::ActivationRow* a, int64_t nb, bool prefetch,
            __m512* out) {
  Q8_0Rows16<T>(rows, a, nb, prefetch, out);
}

// Rows [r0, r1) for tokens [0, n): y[t * w.rows + r].
template <typename Block>
void RowRange(const WeightView& w, const avx2::ActivationRow* a, int64_t n, int64_t r0, int64_t r1,
              float* y) {
  const size_t row_bytes = RowBytes(w.type, w.cols);
  const int64_t nb = w.cols / kQK8_0;
  for (int64_t r = r0; r < r1; r += kGroupRows) {
    const int valid = static_cast<int>(r1 - r < kGroupRows ? r1 - r : kGroupRows);
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
    // Missing rows of the last group repeat its last row; their lanes are not stored.
    const Block* rows[kGroupRows];
    for (int i = 0; i < kGroupRows; ++i) {
      rows[i] =
          reinterpret_cast<const Block*>(w.data + (r + (i < valid ? i : valid - 1)) * row_bytes);
    }
    // Token passes over the group while it is in cache; the first one prefetches the next.
    for (int64_t t = 0; t < n; t += kRowTokens) {
      const int count = static_cast<int>(n - t < kRowTokens ? n - t : kRowTokens);
      __m512 out[kRowTokens];
      [&]<int... kT>(std::integer_sequence<int, kT...>) {
        ((count == kT + 1 ? Rows16<kT + 1>(rows, a + t, nb, t == 0, out) : void()), ...);
      }
      (std::make_integer_sequence<int, kRowTokens>());
      for (int i = 0; i < count; ++i) _mm512_mask_storeu_ps(y + (t + i) * w.rows + r, mask, out[i]);
    }
  }
}

}  // namespace

bool RowsSupported(GgmlType type) { return type == GgmlType::kQ4_0 || type == GgmlType::kQ8_0; }

void QuantizedRowsMatMul(const WeightView& w, const float* x, int64_t n, float* y,
                         ThreadPool& pool) {
  const avx2::ActivationRow* a = avx2::PrepareActivations(w, x, n, pool);
  pool.ParallelFor(w.rows, kGrain, [&](int64_t r0, int64_t r1) {
    if (w.type == GgmlType::kQ4_0) {
      RowRange<BlockQ4_0>(w, a, n, r0, r1, y);
    } else {
      RowRange<BlockQ8_0>(w, a, n, r0, r1, y);
    }
  });
}

}  // namespace tandem::matmul_internal::avx512

#include "common/kernels/avx512_target_pop.h"
