// Scalar reference MatMul: the numerics every SIMD kernel is tested against.
#include <cmath>
#include <vector>

#include "common/kernels/matmul.h"
#include "common/kernels/matmul_internal.h"
#include "common/util/fp16.h"

namespace tandem {
namespace matmul_internal {

void QuantizeActivationRow(const float* x, int64_t cols, BlockQ8_0* out) {
  for (int64_t b = 0; b < cols / kQK8_0; ++b) {
    const float* xb = x + b * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    out[b].d = Fp32ToFp16(amax / 127.0f);
    for (int j = 0; j < kQK8_0; ++j) {
      out[b].qs[j] = static_cast<int8_t>(std::nearbyint(xb[j] * id));
    }
  }
}

float DotF32(const float* w, const float* x, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += w[i] * x[i];
  return acc;
}

float DotF16(const uint16_t* w, const float* x, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += Fp16ToFp32(w[i]) * x[i];
  return acc;
}

float DotQ8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK8_0; ++j) isum += w[b].qs[j] * x[b].qs[j];
    acc += Fp16ToFp32(w[b].d) * Fp16ToFp32(x[b].d) * static_cast<float>(isum);
  }
  return acc;
}

float DotQ4_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t nb) {
  constexpr int kHalf = kQK4_0 / 2;
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kHalf; ++j) {
      isum += ((w[b].qs[j] & 0x0f) - 8) * x[b].qs[j];
      isum += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + kHalf];
    }
    acc += Fp16ToFp32(w[b].d) * Fp16ToFp32(x[b].d) * static_cast<float>(isum);
  }
  return acc;
}

void MatMulScalar(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool* pool) {
  const size_t row_bytes = RowBytes(w.type, w.cols);
  const ActivationKind kind = ActivationKindOf(w.type);
  const int64_t nb = w.cols / kQK8_0, nbk = w.cols / kQK_K;
  std::vector<BlockQ8_0> xq;  // [n, nb]
  std::vector<BlockQ8_K> xk;  // [n, nbk]
  if (kind == ActivationKind::kQ8_0) {
    xq.resize(n * nb);
    for (int64_t t = 0; t < n; ++t) QuantizeActivationRow(x + t * w.cols, w.cols, &xq[t * nb]);
  } else if (kind == ActivationKind::kQ8_K) {
    xk.resize(n * nbk);
    for (int64_t t = 0; t < n; ++t) {
      QuantizeActivationRowQ8K(x + t * w.cols, w.cols, &xk[t * nbk]);
    }
  }
  auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* wr = w.data + r * row_bytes;
      for (int64_t t = 0; t < n; ++t) {
        const float* xf = x + t * w.cols;
        const BlockQ8_0* x8 = xq.empty() ? nullptr : &xq[t * nb];
        const BlockQ8_K* xkt = xk.empty() ? nullptr : &xk[t * nbk];
        float v = 0.0f;
        switch (w.type) {
          case GgmlType::kF32:
            v = DotF32(reinterpret_cast<const float*>(wr), xf, w.cols);
            break;
          case GgmlType::kF16:
            v = DotF16(reinterpret_cast<const uint16_t*>(wr), xf, w.cols);
            break;
          case GgmlType::kBF16:
            v = DotBF16(reinterpret_cast<const uint16_t*>(wr), xf, w.cols);
            break;
          case GgmlType::kQ8_0:
            v = DotQ8_0(reinterpret_cast<const BlockQ8_0*>(wr), x8, nb);
            break;
          case GgmlType::kQ4_0:
            v = DotQ4_0(reinterpret_cast<const BlockQ4_0*>(wr), x8, nb);
            break;
          case GgmlType::kQ4_1:
            v = DotQ4_1(reinterpret_cast<const BlockQ4_1*>(wr), x8, nb);
            break;
          case GgmlType::kQ5_0:
            v = DotQ5_0(reinterpret_cast<const BlockQ5_0*>(wr), x8, nb);
            break;
          case GgmlType::kQ5_1:
            v = DotQ5_1(reinterpret_cast<const BlockQ5_1*>(wr), x8, nb);
            break;
          case GgmlType::kQ4_K:
            v = DotQ4_K(reinterpret_cast<const BlockQ4_K*>(wr), xkt, nbk);
            break;
          case GgmlType::kQ5_K:
            v = DotQ5_K(reinterpret_cast<const BlockQ5_K*>(wr), xkt, nbk);
            break;
          case GgmlType::kQ6_K:
            v = DotQ6_K(reinterpret_cast<const BlockQ6_K*>(wr), xkt, nbk);
            break;
          default:
            v = std::nanf("");  // unsupported types are rejected when a model loads
            break;
        }
        y[t * w.rows + r] = v;
      }
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(w.rows, 16, rows);
  } else {
    rows(0, w.rows);
  }
}

}  // namespace matmul_internal

namespace ref {

void MatMul(const WeightView& w, const float* x, int64_t n, float* y) {
  matmul_internal::MatMulScalar(w, x, n, y, nullptr);
}

}  // namespace ref
}  // namespace tandem
