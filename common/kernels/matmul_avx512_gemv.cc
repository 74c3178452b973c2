// AVX-512 VNNI decode (n == 1) for Q8_0 weights: y[rows] = W x. Called only when
// KernelCpuIsa() is kAvx512Vnni.
//
// Decode streams ~1 GB of weights per token and one core keeps only so many cache misses
// in flight; fewer instructions per weight byte let the out-of-order window (and the
// prefetches) reach further ahead. Rows go in pairs as in the AVX2 Q4_0 kernel: one zmm
// holds block b of row A (low half) and of row B (high half), so one vpdpbusd, one convert
// and one FMA serve two rows (AVX2: sign, maddubs, madd, convert and FMA per row).
// vpdpbusd wants unsigned weights: w + 128, with -128 * (the activation dword's sum) as
// the starting value, so every int32 lane equals the AVX2 kernel's lane exactly; the
// float steps and the final lane sum are the AVX2 kernel's too, so the results are
// bit-identical to it.
//
// Compiled for AVX-512 only through the target pragma below the includes (see
// matmul_avx512_gemm.cc for why).
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "common/kernels/fp16_table.h"
#include "common/kernels/matmul_internal.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
// GCC 12 false positive inside its own intrinsics (see matmul_avx512_gemm.cc).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace tandem::matmul_internal::avx512 {
namespace {

constexpr int kRowsPerStep = 8;  // 4 pairs: several row streams in flight per thread
constexpr int kGemvGrain = 8;    // row grain of the thread partition

// One Q8_0 activation block laid out for the pair kernel.
struct alignas(64) ActBlock {
  int8_t x[64];      // the 32 quants, twice (rows A and B)
  int32_t corr[16];  // lane i (and i + 8): -128 * (x[4i] + ... + x[4i + 3])
};
static_assert(sizeof(ActBlock) == 128);

struct ActRow {
  std::vector<ActBlock> blocks;
  std::vector<float> d;  // token scale per block
  std::vector<BlockQ8_0> q;
};

void PrepareActivations(const float* x, int64_t cols, ActRow* a) {
  const int64_t nb = cols / kQK8_0;
  if (static_cast<int64_t>(a->blocks.size()) < nb) {
    a->blocks.resize(nb);
    a->d.resize(nb);
    a->q.resize(nb);
  }
  avx2::QuantizeActivationRow(x, cols, a->q.data());
  const float* table = Fp16ToFp32Table();
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t b = 0; b < nb; ++b) {
    const __m512i xq =
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a->q[b].qs)));
    const __m512i dword_sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, xq);
    _mm512_store_si512(a->blocks[b].x, xq);
    _mm512_store_si512(a->blocks[b].corr,
                       _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(dword_sums, 7)));
    a->d[b] = table[a->q[b].d];
  }
}

// The AVX2 kernel's lane sum, for bit-identical results.
inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Rows rows[0..2 NP) against the activations; y[i] for rows[i].
template <int NP>
void Q8_0Pairs(const BlockQ8_0* const* rows, const ActRow& a, int64_t nb, size_t row_bytes,
               float* y) {
  const float* table = Fp16ToFp32Table();
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[NP];
  for (int p = 0; p < NP; ++p) acc[p] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const ActBlock& xa = a.blocks[b];
    const __m512i x = _mm512_load_si512(xa.x);
    const __m512i corr = _mm512_load_si512(xa.corr);
    const __m512 dx = _mm512_set1_ps(a.d[b]);
    for (int p = 0; p < NP; ++p) {
      const BlockQ8_0* ba = rows[2 * p] + b;
      const BlockQ8_0* bb = rows[2 * p + 1] + b;
      // The next step's rows, as the AVX2 kernels do (the prefetcher alone is late).
      _mm_prefetch(reinterpret_cast<const char*>(ba) + kRowsPerStep * row_bytes, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(bb) + kRowsPerStep * row_bytes, _MM_HINT_T0);
      const __m512i w = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ba->qs))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bb->qs)), 1);
      const __m512i isum = _mm512_dpbusd_epi32(corr, _mm512_xor_si512(w, bias), x);
      const __m512 dw =
          _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(table[ba->d])),
                                              _mm256_castps_pd(_mm256_set1_ps(table[bb->d])), 1));
      acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(isum), acc[p]);
    }
  }
  for (int p = 0; p < NP; ++p) {
    y[2 * p] = HorizontalSum(_mm512_castps512_ps256(acc[p]));
    y[2 * p + 1] =
        HorizontalSum(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[p]), 1)));
  }
}

// Rows [r0, r1): kRowsPerStep at a time; an odd last row is paired with itself.
void Rows(const WeightView& w, const ActRow& a, int64_t r0, int64_t r1, float* y) {
  const size_t row_bytes = RowBytes(w.type, w.cols);
  const int64_t nb = w.cols / kQK8_0;
  auto row = [&](int64_t r) { return reinterpret_cast<const BlockQ8_0*>(w.data + r * row_bytes); };
  int64_t r = r0;
  for (; r + kRowsPerStep <= r1; r += kRowsPerStep) {
    const BlockQ8_0* rows[kRowsPerStep];
    for (int i = 0; i < kRowsPerStep; ++i) rows[i] = row(r + i);
    Q8_0Pairs<kRowsPerStep / 2>(rows, a, nb, row_bytes, y + r);
  }
  for (; r < r1; r += 2) {
    const BlockQ8_0* rows[2] = {row(r), row(r + 1 < r1 ? r + 1 : r)};
    float out[2];
    Q8_0Pairs<1>(rows, a, nb, row_bytes, out);
    y[r] = out[0];
    if (r + 1 < r1) y[r + 1] = out[1];
  }
}

}  // namespace

bool GemvSupported(GgmlType type) { return type == GgmlType::kQ8_0; }

void Gemv(const WeightView& w, const float* x, float* y, ThreadPool& pool) {
  thread_local ActRow caller_act;
  // A plain reference: inside the lambda the thread_local would name each worker's own.
  const ActRow& act = caller_act;
  PrepareActivations(x, w.cols, &caller_act);
  pool.ParallelFor(w.rows, kGemvGrain, [&](int64_t r0, int64_t r1) { Rows(w, act, r0, r1, y); });
}

}  // namespace tandem::matmul_internal::avx512

#pragma GCC diagnostic pop
#pragma GCC pop_options
