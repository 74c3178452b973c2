// AVX2/FMA/F16C MatMul kernels. Compiled with TANDEM_AVX2_FLAGS; called only after
// CpuHasAvx2Fma().
//
// Decode (n == 1) streams each weight row once: the rows are split across the pool and
// each thread walks NR rows at a time so several streams of loads are in flight. Small
// decode batches (the worker's sessions) take the same quantized kernels, each weight
// block loaded once for up to kRowTokens tokens; larger batches (prompts) with quantized
// weights go to matmul_avx2_gemm.cc (UseGemm picks); float weights use the decode kernels
// for every token. Either way a token's outputs do not depend on n or on its place in the
// batch (see the notes at the kernels).
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/kernels/cpu_features.h"
#include "common/kernels/fp16_table.h"
#include "common/kernels/matmul_avx2_internal.h"
#include "common/kernels/matmul_internal.h"
#include "common/util/fp16.h"

namespace tandem::matmul_internal::avx2 {
namespace {

// Rows per step of the decode kernels (quantized rows go in pairs, see below; float rows
// each keep two accumulators), and the row grain of the thread partition.
constexpr int kQuantRows = 8;
constexpr int kFloatRows = 4;
constexpr int kGemvGrain = 8;
// Tokens of a decode batch that share each load of a quantized weight block (the row
// kernel's register tile), and the rows a thread takes per pass over those tokens.
constexpr int kRowTokens = 4;
constexpr int kRowSpan = kQuantRows;

// The rows of the next step are fetched while this step computes: a thread walks several
// interleaved row streams, which the hardware prefetcher alone follows too late (measured:
// Q4_0 decode from DRAM about doubles, close to the streaming-read rate).
template <int kRowsPerStep>
inline void PrefetchNextStep(const void* p, size_t row_bytes) {
  _mm_prefetch(static_cast<const char*>(p) + kRowsPerStep * row_bytes, _MM_HINT_T0);
}

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- F32 / F16 / BF16 weights: FMA against float activations. ----

// F16 and BF16 (the top 16 bits of an f32) weights are widened to 8 floats per load, then
// take the same FMA order as F32 (the tail in scalar code, also per row).
// These serve AVX-512 CPUs too: a bit-identical AVX-512 version (one zmm per row holding
// acc0 | acc1) was not measurably faster in BM_MatMulHalfDecode (2048x5632 from DRAM, 1
// and 2 threads, on a busy 2-core AMD EPYC: differences of either sign within the
// run-to-run noise), though a stripped-down single-thread loop gained 15-20%.
struct F32Weights {
  using Stored = float;
  static __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
  static float One(float v) { return v; }
};
struct F16Weights {
  using Stored = uint16_t;
  static __m256 Load8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float One(uint16_t h) { return Fp16ToFp32(h); }
};
struct BF16Weights {
  using Stored = uint16_t;
  static __m256 Load8(const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));  // exact
  }
  static float One(uint16_t h) { return Bf16ToFp32(h); }
};

template <int NR, class W>
void GemvFloatRows(const typename W::Stored* w, int64_t stride, const float* x, int64_t cols,
                   float* y) {
  __m256 acc0[NR], acc1[NR];
  for (int r = 0; r < NR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= cols; i += 16) {
    const __m256 x0 = _mm256_loadu_ps(x + i);
    const __m256 x1 = _mm256_loadu_ps(x + i + 8);
    for (int r = 0; r < NR; ++r) {
      PrefetchNextStep<kFloatRows>(w + r * stride + i, stride * sizeof(typename W::Stored));
      acc0[r] = _mm256_fmadd_ps(W::Load8(w + r * stride + i), x0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(W::Load8(w + r * stride + i + 8), x1, acc1[r]);
    }
  }
  for (; i + 8 <= cols; i += 8) {
    const __m256 x0 = _mm256_loadu_ps(x + i);
    for (int r = 0; r < NR; ++r) {
      acc0[r] = _mm256_fmadd_ps(W::Load8(w + r * stride + i), x0, acc0[r]);
    }
  }
  for (int r = 0; r < NR; ++r) {
    float s = HorizontalSum(_mm256_add_ps(acc0[r], acc1[r]));
    for (int64_t j = i; j < cols; ++j) s += W::One(w[r * stride + j]) * x[j];
    y[r] = s;
  }
}

// ---- Quantized weights against Q8_0 activations. ----
//
// Batch invariance: the GEMM (matmul_avx2_gemm.cc, and the AVX-512 one) computes each
// output as acc = fma(d_w * d_x, float(exact int block sum), acc) over the blocks in
// order, from acc = 0. These decode kernels do the same float steps, so a token's
// outputs are bit-identical whether it is decoded alone or inside a prompt chunk or a
// batch. Only the integer part is free to differ (int sums are exact), so the kernels
// reduce each row's int32 partial sums per block, then do the float steps for 8 rows in
// the 8 lanes of one register.

// Scales d_w of 8 rows (in the lane order of the reduced sums) times d_x.
inline __m256 RowScales(uint16_t d0, uint16_t d1, uint16_t d2, uint16_t d3, uint16_t d4,
                        uint16_t d5, uint16_t d6, uint16_t d7, __m256 dx) {
  const __m128i h =
      _mm_setr_epi16(static_cast<int16_t>(d0), static_cast<int16_t>(d1), static_cast<int16_t>(d2),
                     static_cast<int16_t>(d3), static_cast<int16_t>(d4), static_cast<int16_t>(d5),
                     static_cast<int16_t>(d6), static_cast<int16_t>(d7));
  return _mm256_mul_ps(_mm256_cvtph_ps(h), dx);  // fp16 -> fp32 is exact
}

// Q4_0, 8 rows x T tokens: rows go in pairs (row 2p in the low half, 2p + 1 in the high
// half of one register), so the nibble unpack is shared by two rows, and each block's
// unpacked nibbles and row scales are reused by the T tokens (a decode batch). The nibbles
// q in [0, 15] go unsigned into maddubs against the signed activations (low nibbles
// against x[0..15], high against x[16..31], both halves duplicated); the -8 offset comes
// back exactly through q4[b].corr. Three hadds turn the four pair sums into per-row block
// sums in lane order [0 2 4 6 | 1 3 5 7]. Per token the float steps are those of T == 1.
template <int T>
void GemvQ4_0Rows8(const BlockQ4_0* const* rows, const ActivationRow* a, float* const* y) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t nb = a[0].nb;
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i lo[4], hi[4];
    for (int p = 0; p < 4; ++p) {
      const BlockQ4_0* ba = rows[2 * p] + b;
      const BlockQ4_0* bb = rows[2 * p + 1] + b;
      if ((b & 1) == 0) {  // two blocks (36 bytes) per prefetch are enough
        PrefetchNextStep<kQuantRows>(ba, nb * sizeof(BlockQ4_0));
        PrefetchNextStep<kQuantRows>(bb, nb * sizeof(BlockQ4_0));
      }
      const __m256i packed = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ba->qs))),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(bb->qs)), 1);
      lo[p] = _mm256_and_si256(packed, low4);
      hi[p] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
    }
    // Scales d_w of the 8 rows in the lane order of the reduced sums (fp16 -> fp32 exact).
    const __m256 dw = _mm256_cvtph_ps(
        _mm_setr_epi16(static_cast<int16_t>(rows[0][b].d), static_cast<int16_t>(rows[2][b].d),
                       static_cast<int16_t>(rows[4][b].d), static_cast<int16_t>(rows[6][b].d),
                       static_cast<int16_t>(rows[1][b].d), static_cast<int16_t>(rows[3][b].d),
                       static_cast<int16_t>(rows[5][b].d), static_cast<int16_t>(rows[7][b].d)));
    for (int t = 0; t < T; ++t) {
      const Q4Activation& xa = a[t].q4[b];
      const __m256i xlo = _mm256_load_si256(reinterpret_cast<const __m256i*>(xa.lo));
      const __m256i xhi = _mm256_load_si256(reinterpret_cast<const __m256i*>(xa.hi));
      const __m256i corr = _mm256_load_si256(reinterpret_cast<const __m256i*>(xa.corr));
      __m256i sum[4];
      for (int p = 0; p < 4; ++p) {
        // |pair sums| <= 2 * 15 * 127, so adding the two int16 products cannot overflow.
        const __m256i prod =
            _mm256_add_epi16(_mm256_maddubs_epi16(lo[p], xlo), _mm256_maddubs_epi16(hi[p], xhi));
        sum[p] = _mm256_add_epi32(_mm256_madd_epi16(prod, ones), corr);
      }
      const __m256i isum =
          _mm256_hadd_epi32(_mm256_hadd_epi32(sum[0], sum[1]), _mm256_hadd_epi32(sum[2], sum[3]));
      const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(a[t].d + b));
      acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    alignas(32) float out[8];
    _mm256_store_ps(out, acc[t]);
    for (int i = 0; i < 4; ++i) {
      y[t][2 * i] = out[i];
      y[t][2 * i + 1] = out[4 + i];
    }
  }
}

// Q8_0, 8 rows x T tokens: maddubs needs an unsigned operand: |w| (once per block, shared
// by the tokens) against x carrying w's sign; the int products and so the exact int block
// sums are those of |x| against w with x's sign. Six hadds and a lane swap reduce the 8
// rows' sums to lanes [0 .. 7].
template <int T>
void GemvQ8_0Rows8(const BlockQ8_0* const* rows, const ActivationRow* a, float* const* y) {
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t nb = a[0].nb;
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i q[8];
    for (int r = 0; r < 8; ++r) {
      const BlockQ8_0* blk = rows[r] + b;
      PrefetchNextStep<kQuantRows>(blk, nb * sizeof(BlockQ8_0));
      q[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
    }
    const __m256 dw = _mm256_cvtph_ps(
        _mm_setr_epi16(static_cast<int16_t>(rows[0][b].d), static_cast<int16_t>(rows[1][b].d),
                       static_cast<int16_t>(rows[2][b].d), static_cast<int16_t>(rows[3][b].d),
                       static_cast<int16_t>(rows[4][b].d), static_cast<int16_t>(rows[5][b].d),
                       static_cast<int16_t>(rows[6][b].d), static_cast<int16_t>(rows[7][b].d)));
    for (int t = 0; t < T; ++t) {
      const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t].q[b].qs));
      const __m256i xabs = _mm256_load_si256(reinterpret_cast<const __m256i*>(a[t].q8abs[b].v));
      __m256i sum[8];
      for (int r = 0; r < 8; ++r) {
        sum[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(xabs, _mm256_sign_epi8(q[r], xq)), ones);
      }
      // Per 128-bit half: h0123 = [0 1 2 3] (low half's lanes of each row, then high half's).
      const __m256i h0123 =
          _mm256_hadd_epi32(_mm256_hadd_epi32(sum[0], sum[1]), _mm256_hadd_epi32(sum[2], sum[3]));
      const __m256i h4567 =
          _mm256_hadd_epi32(_mm256_hadd_epi32(sum[4], sum[5]), _mm256_hadd_epi32(sum[6], sum[7]));
      const __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                                            _mm256_permute2x128_si256(h0123, h4567, 0x31));
      const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(a[t].d + b));
      acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y[t], acc[t]);
}

// Runs Rows8<T> over rows [0, count) of a quantized matrix, 8 at a time, for T tokens
// (y[t] is token t's output for these rows); the last group repeats its last row to fill 8
// (each lane's result depends only on its own row).
template <typename Block, int T>
void QuantizedRowsT(const uint8_t* base, size_t row_bytes, int64_t count, const ActivationRow* a,
                    float* const* y) {
  auto row = [&](int64_t r) { return reinterpret_cast<const Block*>(base + r * row_bytes); };
  auto rows8 = [](const Block* const* rows, const ActivationRow* at, float* const* yt) {
    if constexpr (std::is_same_v<Block, BlockQ4_0>) {
      GemvQ4_0Rows8<T>(rows, at, yt);
    } else {
      GemvQ8_0Rows8<T>(rows, at, yt);
    }
  };
  int64_t r = 0;
  for (; r + kQuantRows <= count; r += kQuantRows) {
    const Block* rows[kQuantRows];
    for (int i = 0; i < kQuantRows; ++i) rows[i] = row(r + i);
    float* yr[T];
    for (int t = 0; t < T; ++t) yr[t] = y[t] + r;
    rows8(rows, a, yr);
  }
  if (r == count) return;
  const Block* rows[kQuantRows];
  for (int i = 0; i < kQuantRows; ++i) rows[i] = row(r + i < count ? r + i : count - 1);
  float out[T][kQuantRows];
  float* yr[T];
  for (int t = 0; t < T; ++t) yr[t] = out[t];
  rows8(rows, a, yr);
  for (int t = 0; t < T; ++t) {
    for (int i = 0; r + i < count; ++i) y[t][r + i] = out[t][i];
  }
}

// Quantized rows [0, count) for tokens [0, n): each group of 8 rows is read from memory
// once and multiplied with up to kRowTokens tokens per pass while it is in L1
// (tokens_per_pass == 1: the decode step once per token instead, for benchmarks).
template <typename Block>
void QuantizedRows(const uint8_t* base, size_t row_bytes, int64_t count, const ActivationRow* a,
                   int64_t n, int tokens_per_pass, float* const* y) {
  if (n == 1 || tokens_per_pass == 1) {
    for (int64_t t = 0; t < n; ++t) QuantizedRowsT<Block, 1>(base, row_bytes, count, a + t, y + t);
    return;
  }
  // Row groups outermost, so that later token passes find the group in cache.
  for (int64_t r = 0; r < count; r += kRowSpan) {
    const int64_t span = count - r < kRowSpan ? count - r : kRowSpan;
    const uint8_t* p = base + r * row_bytes;
    int64_t t = 0;
    for (; t + kRowTokens <= n; t += kRowTokens) {
      float* yt[kRowTokens];
      for (int i = 0; i < kRowTokens; ++i) yt[i] = y[t + i] + r;
      QuantizedRowsT<Block, kRowTokens>(p, row_bytes, span, a + t, yt);
    }
    const int rest = static_cast<int>(n - t);
    if (rest == 0) continue;
    float* yt[kRowTokens];
    for (int i = 0; i < rest; ++i) yt[i] = y[t + i] + r;
    [&]<int... kT>(std::integer_sequence<int, kT...>) {
      ((rest == kT + 1 ? QuantizedRowsT<Block, kT + 1>(p, row_bytes, span, a + t, yt) : void()),
       ...);
    }
    (std::make_integer_sequence<int, kRowTokens - 1>());
  }
}

// y[t * w.rows + r] for r in [r0, r1) and t in [0, n) of a Q4_0 / Q8_0 matrix, from the
// tokens' prepared activation rows a[n].
void QuantizedRowRange(const WeightView& w, const ActivationRow* a, int64_t n, int tokens_per_pass,
                       int64_t r0, int64_t r1, float* y) {
  const size_t row_bytes = RowBytes(w.type, w.cols);
  const uint8_t* base = w.data + r0 * row_bytes;
  thread_local std::vector<float*> yt;
  yt.resize(n);
  for (int64_t t = 0; t < n; ++t) yt[t] = y + t * w.rows + r0;
  if (w.type == GgmlType::kQ4_0) {
    QuantizedRows<BlockQ4_0>(base, row_bytes, r1 - r0, a, n, tokens_per_pass, yt.data());
  } else {
    QuantizedRows<BlockQ8_0>(base, row_bytes, r1 - r0, a, n, tokens_per_pass, yt.data());
  }
}

// y[r] for r in [r0, r1) of one activation row of float weights.
void GemvRows(const WeightView& w, const float* x, int64_t r0, int64_t r1, float* y) {
  const size_t row_bytes = RowBytes(w.type, w.cols);
  const uint8_t* base = w.data + r0 * row_bytes;
  const int64_t count = r1 - r0;
  auto run = [&](auto nr_tag, int64_t r) {
    constexpr int kNr = decltype(nr_tag)::value;
    const uint8_t* p = base + r * row_bytes;
    switch (w.type) {
      case GgmlType::kF32:
        GemvFloatRows<kNr, F32Weights>(reinterpret_cast<const float*>(p), w.cols, x, w.cols,
                                       y + r0 + r);
        break;
      case GgmlType::kF16:
        GemvFloatRows<kNr, F16Weights>(reinterpret_cast<const uint16_t*>(p), w.cols, x, w.cols,
                                       y + r0 + r);
        break;
      case GgmlType::kBF16:
        GemvFloatRows<kNr, BF16Weights>(reinterpret_cast<const uint16_t*>(p), w.cols, x, w.cols,
                                        y + r0 + r);
        break;
      default:
        for (int i = 0; i < kNr; ++i) y[r0 + r + i] = std::nanf("");
        break;
    }
  };
  int64_t r = 0;
  for (; r + kFloatRows <= count; r += kFloatRows) {
    run(std::integral_constant<int, kFloatRows>(), r);
  }
  for (; r < count; ++r) run(std::integral_constant<int, 1>(), r);
}

}  // namespace

void QuantizeActivationRow(const float* x, int64_t cols, BlockQ8_0* out) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < cols / kQK8_0; ++b) {
    const float* xb = x + b * kQK8_0;
    __m256 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(xb + 8 * i);
    __m256 m =
        _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                      _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    out[b].d = Fp32ToFp16(amax / 127.0f);
    const __m256 scale = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) {
      q[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], scale),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    // Pack 32 x int32 -> 32 x int8; packs works per 128-bit lane, the permute restores order.
    const __m256i q01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i q23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23), order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[b].qs), q8);
  }
}

void PrepareActivationRow(const float* x, int64_t cols, GgmlType wtype, ActivationRow* a) {
  a->nb = cols / kQK8_0;
  QuantizeActivationRow(x, cols, a->q);
  const float* table = Fp16ToFp32Table();
  for (int64_t b = 0; b < a->nb; ++b) a->d[b] = table[a->q[b].d];
  if (wtype == GgmlType::kQ8_0) {
    for (int64_t b = 0; b < a->nb; ++b) {
      const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a->q[b].qs));
      _mm256_store_si256(reinterpret_cast<__m256i*>(a->q8abs[b].v), _mm256_abs_epi8(xq));
    }
    return;
  }
  if (wtype != GgmlType::kQ4_0) return;
  const __m256i minus8 = _mm256_set1_epi8(-8);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < a->nb; ++b) {
    const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a->q[b].qs));
    const __m256i lo = _mm256_permute2x128_si256(xq, xq, 0x00);  // x[0..15] twice
    const __m256i hi = _mm256_permute2x128_si256(xq, xq, 0x11);  // x[16..31] twice
    Q4Activation& out = a->q4[b];
    _mm256_store_si256(reinterpret_cast<__m256i*>(out.lo), lo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(out.hi), hi);
    // corr lane i = -8 * (x[4i..4i+3] + x[16+4i..16+4i+3]), the lanes the kernel produces.
    // maddubs wants the unsigned operand first: |x| against -8 carrying x's sign.
    const __m256i p =
        _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(lo), _mm256_sign_epi8(minus8, lo)),
                         _mm256_maddubs_epi16(_mm256_abs_epi8(hi), _mm256_sign_epi8(minus8, hi)));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out.corr), _mm256_madd_epi16(p, ones));
  }
}

void MatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (ActivationKindOf(w.type) == ActivationKind::kQ8_K) {
    KQuantMatMul(w, x, n, y, pool);
    return;
  }
  if (Q4_1Q5Supported(w.type)) {
    Q4_1Q5MatMul(w, x, n, y, pool);
    return;
  }
  if (w.type != GgmlType::kF32 && w.type != GgmlType::kF16 && w.type != GgmlType::kBF16 &&
      w.type != GgmlType::kQ8_0 && w.type != GgmlType::kQ4_0) {
    MatMulScalar(w, x, n, y, &pool);  // no AVX2 kernel for this type yet
    return;
  }
  const bool quantized = w.type == GgmlType::kQ8_0 || w.type == GgmlType::kQ4_0;
  if (quantized) {
    if (n > 1 && GemmSupported(w.type) && UseGemm(w.type, n, KernelCpuIsa())) {
      Gemm(w, x, n, y, pool);
    } else {
      QuantizedRowsMatMul(w, x, n, y, pool, kRowTokens);
    }
    return;
  }
  // Float weights: every (row, token) by the decode kernel, so a token's outputs are the
  // same in a prompt chunk as decoded alone; a thread keeps kFloatRows rows in L1 while it
  // walks the tokens. (Float weights are for small models; big ones are quantized.)
  pool.ParallelFor(w.rows, kGemvGrain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r += kFloatRows) {
      const int64_t end = r + kFloatRows < r1 ? r + kFloatRows : r1;
      for (int64_t t = 0; t < n; ++t) GemvRows(w, x + t * w.cols, r, end, y + t * w.rows);
    }
  });
}

ActivationRow* PrepareActivations(const WeightView& w, const float* x, int64_t n,
                                  ThreadPool& pool) {
  // The calling thread's buffers, handed to the workers by pointer (a thread_local named
  // inside the lambdas would be each worker's own).
  thread_local std::vector<ActivationScratch> scratch_buf;
  thread_local std::vector<ActivationRow> rows_buf;
  if (scratch_buf.size() < static_cast<size_t>(n)) scratch_buf.resize(n);
  rows_buf.assign(n, ActivationRow());
  ActivationScratch* scratch = scratch_buf.data();
  ActivationRow* a = rows_buf.data();
  if (n == 1) {
    scratch[0].Prepare(x, w.cols, w.type, &a[0]);
  } else {
    pool.ParallelFor(n, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) scratch[t].Prepare(x + t * w.cols, w.cols, w.type, &a[t]);
    });
  }
  return a;
}

void QuantizedRowsMatMul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool,
                         int tokens_per_pass) {
  const ActivationRow* a = PrepareActivations(w, x, n, pool);
  pool.ParallelFor(w.rows, kGemvGrain, [&](int64_t r0, int64_t r1) {
    QuantizedRowRange(w, a, n, tokens_per_pass, r0, r1, y);
  });
}

}  // namespace tandem::matmul_internal::avx2
