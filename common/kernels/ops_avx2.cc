// AVX2/FMA versions of the ops' inner loops. Compiled with TANDEM_AVX2_FLAGS.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "common/kernels/ops_internal.h"

namespace tandem::ops_internal::avx2 {
namespace {

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float HorizontalMax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// exp(x) to about 1 ulp (Cephes expf polynomial); inputs below -87.3 give 0, which is
// what softmax needs for very negative scores.
inline __m256 Exp(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 lo = _mm256_set1_ps(-87.3365447504f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  // x = n ln2 + r, |r| <= ln2 / 2, with ln2 split in two for an exact reduction.
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // Scale by 2^n through the exponent bits (n in [-126, 127] after the clamp).
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(underflow, result);
}

// Sum of the 4 dot products q . k[j] for 4 keys as the 4 lanes of an __m128.
inline __m128 Reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// Adds p[j] * v[j][0..kw) for j < len into out[0..kw), kw <= 8 * kRegs floats wide.
template <int kRegs>
void AccumulateValues(const float* p, const float* v, int64_t kv_stride, int64_t len, float* out) {
  __m256 acc[kRegs];
  for (int c = 0; c < kRegs; ++c) acc[c] = _mm256_loadu_ps(out + 8 * c);
  for (int64_t j = 0; j < len; ++j) {
    const __m256 pj = _mm256_broadcast_ss(p + j);
    const float* vj = v + j * kv_stride;
    for (int c = 0; c < kRegs; ++c)
      acc[c] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * c), acc[c]);
  }
  for (int c = 0; c < kRegs; ++c) _mm256_storeu_ps(out + 8 * c, acc[c]);
}

}  // namespace

double SumSquares(const float* x, int64_t dim) {
  // Squares in float, sums in double (llama.cpp's ggml_float).
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 sq = _mm256_mul_ps(v, v);
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(acc0, acc1));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < dim; ++i) sum += static_cast<double>(x[i] * x[i]);
  return sum;
}

void AttentionRow(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t len,
                  int head_dim, float scale, float* scores, float* out) {
  const int hd8 = head_dim & ~7;
  // Scores, 4 keys at a time.
  int64_t j = 0;
  for (; j + 4 <= len; j += 4) {
    const float* k0 = k + j * kv_stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < hd8; i += 8) {
      const __m256 qi = _mm256_loadu_ps(q + i);
      a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k0 + i), a0);
      a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k0 + kv_stride + i), a1);
      a2 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k0 + 2 * kv_stride + i), a2);
      a3 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k0 + 3 * kv_stride + i), a3);
    }
    alignas(16) float s[4];
    _mm_store_ps(s, Reduce4(a0, a1, a2, a3));
    for (int t = 0; t < 4; ++t) {
      for (int i = hd8; i < head_dim; ++i) s[t] += q[i] * k0[t * kv_stride + i];
      scores[j + t] = s[t] * scale;
    }
  }
  for (; j < len; ++j) {
    const float* kj = k + j * kv_stride;
    __m256 a = _mm256_setzero_ps();
    for (int i = 0; i < hd8; i += 8) {
      a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kj + i), a);
    }
    float s = HorizontalSum(a);
    for (int i = hd8; i < head_dim; ++i) s += q[i] * kj[i];
    scores[j] = s * scale;
  }

  // Softmax weights (unnormalized), then out = sum_j p_j v_j / sum_j p_j.
  float max = -INFINITY;
  {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(scores + i));
    max = HorizontalMax(m);
    for (; i < len; ++i) max = std::fmax(max, scores[i]);
  }
  double sum = 0.0;
  {
    const __m256 mv = _mm256_set1_ps(max);
    __m256 s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) {
      const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(scores + i), mv));
      _mm256_storeu_ps(scores + i, e);
      s = _mm256_add_ps(s, e);
    }
    sum = HorizontalSum(s);
    for (; i < len; ++i) {
      scores[i] = std::exp(scores[i] - max);
      sum += scores[i];
    }
  }
  const float inv = static_cast<float>(1.0 / sum);
  {
    const __m256 iv = _mm256_set1_ps(inv);
    int64_t i = 0;
    for (; i + 8 <= len; i += 8)
      _mm256_storeu_ps(scores + i, _mm256_mul_ps(_mm256_loadu_ps(scores + i), iv));
    for (; i < len; ++i) scores[i] *= inv;
  }

  for (int i = 0; i < head_dim; ++i) out[i] = 0.0f;
  int c = 0;
  for (; c + 64 <= hd8; c += 64) AccumulateValues<8>(scores, v + c, kv_stride, len, out + c);
  for (; c + 8 <= hd8; c += 8) AccumulateValues<1>(scores, v + c, kv_stride, len, out + c);
  for (; c < head_dim; ++c) {
    float acc = 0.0f;
    for (int64_t jj = 0; jj < len; ++jj) acc += scores[jj] * v[jj * kv_stride + c];
    out[c] = acc;
  }
}

void SiluMul(float* gate, const float* up, int64_t count) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  auto silu_mul = [&](__m256 g, __m256 u) {
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, Exp(_mm256_xor_ps(g, sign)))), u);
  };
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    _mm256_storeu_ps(gate + i, silu_mul(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  }
  if (i == count) return;
  // The tail goes through the same vector formula (an element's value must not depend on
  // where the batch ends: count is n rows of ffn values).
  alignas(32) float g[8] = {}, u[8] = {};
  const int64_t rest = count - i;
  std::memcpy(g, gate + i, sizeof(float) * rest);
  std::memcpy(u, up + i, sizeof(float) * rest);
  _mm256_store_ps(g, silu_mul(_mm256_load_ps(g), _mm256_load_ps(u)));
  std::memcpy(gate + i, g, sizeof(float) * rest);
}

void AddInPlace(float* x, const float* y, int64_t count) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < count; ++i) x[i] += y[i];
}

void Softmax(float* x, int64_t count) {
  if (count <= 0) return;
  __m256 m = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  float max = HorizontalMax(m);
  for (; i < count; ++i) max = std::fmax(max, x[i]);
  const __m256 mv = _mm256_set1_ps(max);
  __m256 s = _mm256_setzero_ps();
  for (i = 0; i + 8 <= count; i += 8) {
    const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
    _mm256_storeu_ps(x + i, e);
    s = _mm256_add_ps(s, e);
  }
  double sum = HorizontalSum(s);
  for (; i < count; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  const __m256 iv = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= count; i += 8)
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), iv));
  for (; i < count; ++i) x[i] *= inv;
}

}  // namespace tandem::ops_internal::avx2
