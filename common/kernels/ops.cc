// Op entry points: pick the kernel set for this CPU, schedule attention on the pool.
#include "common/kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/kernels/cpu_features.h"
#include "common/kernels/ops_internal.h"

namespace tandem {
namespace {

inline bool UseAvx2() {
#if defined(TANDEM_HAVE_AVX2_KERNELS)
  return CpuHasAvx2Fma();
#else
  return false;
#endif
}

}  // namespace

#if defined(TANDEM_HAVE_AVX2_KERNELS)
#define TANDEM_OPS_DISPATCH(avx2_call, ref_call) \
  do {                                           \
    if (UseAvx2()) {                             \
      avx2_call;                                 \
    } else {                                     \
      ref_call;                                  \
    }                                            \
  } while (0)
#else
#define TANDEM_OPS_DISPATCH(avx2_call, ref_call) ref_call
#endif

void RmsNorm(const float* x, const float* weight, int64_t n, int64_t dim, float eps, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * dim;
    float* o = out + r * dim;
    double sum;
    TANDEM_OPS_DISPATCH(sum = ops_internal::avx2::SumSquares(xr, dim),
                        sum = ops_internal::SumSquaresRef(xr, dim));
    const float mean = static_cast<float>(sum / dim);
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < dim; ++i) o[i] = (xr[i] * scale) * weight[i];
  }
}

void Rope(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, const RopeParams& params) {
  // theta_i = pos * freq_base^(-2i/head_dim), built by repeated multiplication like
  // llama.cpp's rope cache so the angles match it bit for bit.
  const float theta_scale = std::pow(params.freq_base, -2.0f / head_dim);
  const int half = head_dim / 2;
  thread_local std::vector<float> cos_sin;
  cos_sin.resize(head_dim);
  for (int64_t r = 0; r < n; ++r) {
    float theta = static_cast<float>(pos0 + r);
    for (int i = 0; i < half; ++i) {
      const float t = params.freq_factors != nullptr ? theta / params.freq_factors[i] : theta;
      cos_sin[2 * i] = std::cos(t);
      cos_sin[2 * i + 1] = std::sin(t);
      theta *= theta_scale;
    }
    // Element pair i of a head: (2i, 2i+1) in normal mode, (i, i + half) in neox mode.
    const int stride = params.neox ? 1 : 2;
    const int partner = params.neox ? half : 1;
    float* row = x + r * n_heads * head_dim;  // [n_heads, head_dim]
    for (int h = 0; h < n_heads; ++h) {
      float* v = row + h * head_dim;
      for (int i = 0; i < half; ++i) {
        const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
        float* a = v + i * stride;
        const float x0 = a[0], x1 = a[partner];
        a[0] = x0 * c - x1 * s;
        a[partner] = x0 * s + x1 * c;
      }
    }
  }
}

void AddBias(float* x, const float* bias, int64_t n, int64_t dim) {
  for (int64_t r = 0; r < n; ++r) {
    float* row = x + r * dim;
    for (int64_t i = 0; i < dim; ++i) row[i] += bias[i];
  }
}

void RopeNormal(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, float freq_base) {
  Rope(x, n, n_heads, head_dim, pos0, {.freq_base = freq_base});
}

void Attention(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int n_heads,
               int n_kv_heads, int head_dim, float* out, ThreadPool& pool) {
  const AttentionSeq seq{.q = q, .k = k, .v = v, .n = n, .pos0 = pos0, .out = out};
  AttentionBatch({&seq, 1}, n_heads, n_kv_heads, head_dim, pool);
}

void AttentionBatch(absl::Span<const AttentionSeq> seqs, int n_heads, int n_kv_heads, int head_dim,
                    ThreadPool& pool) {
  const int group = n_heads / n_kv_heads;
  const int64_t kv_stride = static_cast<int64_t>(n_kv_heads) * head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  // (sequence, query row, head) items, numbered sequence by sequence; first[s] is the
  // first item of sequence s.
  thread_local std::vector<int64_t> first;
  first.resize(seqs.size() + 1);
  int64_t max_len = 0;
  first[0] = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    first[s + 1] = first[s] + seqs[s].n * n_heads;
    max_len = std::max(max_len, seqs[s].pos0 + seqs[s].n);
  }
  const int64_t items = first[seqs.size()];
  if (items == 0) return;
  const int64_t* starts = first.data();
  // Later rows attend to more positions, so unit u takes items u, u + units, ...: every
  // unit gets a similar mix of short and long rows. An item's result does not depend on
  // which thread computes it.
  const int64_t units = std::min<int64_t>(items, 16 * pool.num_threads());
  pool.ParallelFor(units, 1, [&](int64_t u0, int64_t u1) {
    thread_local std::vector<float> scores;
    if (scores.size() < static_cast<size_t>(max_len)) scores.resize(max_len);
    for (int64_t u = u0; u < u1; ++u) {
      size_t s = 0;
      for (int64_t item = u; item < items; item += units) {
        while (item >= starts[s + 1]) ++s;  // items only grow
        const AttentionSeq& seq = seqs[s];
        const int64_t local = item - starts[s];
        const int64_t r = local / n_heads;
        const int h = static_cast<int>(local % n_heads);
        const int64_t off = static_cast<int64_t>(h / group) * head_dim;
        const float* qh = seq.q + local * head_dim;
        float* oh = seq.out + local * head_dim;
        const int64_t len = seq.pos0 + r + 1;
        TANDEM_OPS_DISPATCH(
            ops_internal::avx2::AttentionRow(qh, seq.k + off, seq.v + off, kv_stride, len, head_dim,
                                             scale, scores.data(), oh),
            ops_internal::AttentionRowRef(qh, seq.k + off, seq.v + off, kv_stride, len, head_dim,
                                          scale, scores.data(), oh));
      }
    }
  });
}

void SiluMul(float* gate, const float* up, int64_t count) {
  TANDEM_OPS_DISPATCH(ops_internal::avx2::SiluMul(gate, up, count), ref::SiluMul(gate, up, count));
}

void AddInPlace(float* x, const float* y, int64_t count) {
  TANDEM_OPS_DISPATCH(ops_internal::avx2::AddInPlace(x, y, count), ref::AddInPlace(x, y, count));
}

void Softmax(float* x, int64_t count) {
  TANDEM_OPS_DISPATCH(ops_internal::avx2::Softmax(x, count), ref::Softmax(x, count));
}

}  // namespace tandem
