// Scalar reference ops (llama.cpp's formulas), the twins of ops_avx2.cc.
#include <cmath>
#include <vector>

#include "common/kernels/ops.h"
#include "common/kernels/ops_internal.h"

namespace tandem {
namespace ops_internal {

double SumSquaresRef(const float* x, int64_t dim) {
  double sum = 0.0;
  for (int64_t i = 0; i < dim; ++i) sum += static_cast<double>(x[i] * x[i]);
  return sum;
}

void AttentionRowRef(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t len,
                     int head_dim, float scale, float* scores, float* out) {
  float max = -INFINITY;
  for (int64_t j = 0; j < len; ++j) {
    const float* kj = k + j * kv_stride;
    float dot = 0.0f;
    for (int i = 0; i < head_dim; ++i) dot += q[i] * kj[i];
    scores[j] = dot * scale;
    max = std::fmax(max, scores[j]);
  }
  double sum = 0.0;
  for (int64_t j = 0; j < len; ++j) {
    scores[j] = std::exp(scores[j] - max);
    sum += scores[j];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int i = 0; i < head_dim; ++i) out[i] = 0.0f;
  for (int64_t j = 0; j < len; ++j) {
    const float* vj = v + j * kv_stride;
    const float p = scores[j] * inv;
    for (int i = 0; i < head_dim; ++i) out[i] += p * vj[i];
  }
}

}  // namespace ops_internal

namespace ref {

void RmsNorm(const float* x, const float* weight, int64_t n, int64_t dim, float eps, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * dim;
    float* o = out + r * dim;
    const float mean = static_cast<float>(ops_internal::SumSquaresRef(xr, dim) / dim);
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < dim; ++i) o[i] = (xr[i] * scale) * weight[i];
  }
}

void Attention(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int n_heads,
               int n_kv_heads, int head_dim, float* out) {
  const int group = n_heads / n_kv_heads;
  const int64_t kv_stride = static_cast<int64_t>(n_kv_heads) * head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  std::vector<float> scores(pos0 + n);
  for (int64_t r = 0; r < n; ++r) {
    for (int h = 0; h < n_heads; ++h) {
      const int64_t off = static_cast<int64_t>(h / group) * head_dim;
      ops_internal::AttentionRowRef(q + (r * n_heads + h) * head_dim, k + off, v + off, kv_stride,
                                    pos0 + r + 1, head_dim, scale, scores.data(),
                                    out + (r * n_heads + h) * head_dim);
    }
  }
}

void SiluMul(float* gate, const float* up, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void AddInPlace(float* x, const float* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

void Softmax(float* x, int64_t count) {
  if (count <= 0) return;
  float max = x[0];
  for (int64_t i = 1; i < count; ++i) max = std::fmax(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < count; ++i) x[i] *= inv;
}

}  // namespace ref
}  // namespace tandem
