// Scalar reference dot products of the types added after Q8_0/Q4_0: Q4_1, Q5_0, Q5_1
// (32-value blocks against Q8_0 activations; one std::fma per block and term, so every
// kernel level can give the same bits), the K-quants Q4_K, Q5_K, Q6_K (256-value
// super-blocks against Q8_K activations, as ggml's vec_dot_q*_K), and BF16.
#include <cmath>
#include <cstring>

#include "common/kernels/matmul_internal.h"
#include "common/tensor/quantize_internal.h"
#include "common/util/fp16.h"

namespace tandem::matmul_internal {
namespace {

using quantize_internal::NearestInt;
using quantize_internal::Unpack5;

inline int32_t SumQ8(const BlockQ8_0& x) {
  int32_t s = 0;
  for (int j = 0; j < kQK8_0; ++j) s += x.qs[j];
  return s;
}

// sum((q - offset) * x) over one block of 5-bit values (Q5_0: offset 16; Q5_1: 0).
template <typename Block>
int32_t Q5BlockSum(const Block& w, const BlockQ8_0& x, int offset) {
  int q[32];
  Unpack5(w.qs, w.qh, q);
  int32_t isum = 0;
  for (int j = 0; j < 32; ++j) isum += (q[j] - offset) * x.qs[j];
  return isum;
}

// The float steps of a block with a scale and a minimum (Q4_1, Q5_1): the scaled integer
// dot product, then the minimum times the activations' sum, one std::fma each.
inline float AddBlockWithMin(float acc, uint16_t d, uint16_t m, const BlockQ8_0& x, int32_t isum) {
  const float dx = Fp16ToFp32(x.d);
  acc = std::fma(Fp16ToFp32(d) * dx, static_cast<float>(isum), acc);
  return std::fma(Fp16ToFp32(m) * dx, static_cast<float>(SumQ8(x)), acc);
}

}  // namespace

void QuantizeActivationRowQ8K(const float* x, int64_t cols, BlockQ8_K* out) {
  for (int64_t b = 0; b < cols / kQK_K; ++b, x += kQK_K) {
    BlockQ8_K& y = out[b];
    float max = 0, amax = 0;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (!amax) {
      std::memset(&y, 0, sizeof(y));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j) {
      const int v = NearestInt(iscale * x[j]);
      y.qs[j] = static_cast<int8_t>(v < 127 ? v : 127);
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += y.qs[16 * j + i];
      y.bsums[j] = static_cast<int16_t>(sum);
    }
    y.d = 1 / iscale;
  }
}

ActivationKind ActivationKindOf(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
      return ActivationKind::kQ8_0;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return ActivationKind::kQ8_K;
    default:
      return ActivationKind::kFloat;
  }
}

float DotBF16(const uint16_t* w, const float* x, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += Bf16ToFp32(w[i]) * x[i];
  return acc;
}

float DotQ4_1(const BlockQ4_1* w, const BlockQ8_0* x, int64_t nb) {
  constexpr int kHalf = kQK4_1 / 2;
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kHalf; ++j) {
      isum += (w[b].qs[j] & 0x0f) * x[b].qs[j] + (w[b].qs[j] >> 4) * x[b].qs[j + kHalf];
    }
    acc = AddBlockWithMin(acc, w[b].d, w[b].m, x[b], isum);
  }
  return acc;
}

float DotQ5_0(const BlockQ5_0* w, const BlockQ8_0* x, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const float isum = static_cast<float>(Q5BlockSum(w[b], x[b], 16));
    acc = std::fma(Fp16ToFp32(w[b].d) * Fp16ToFp32(x[b].d), isum, acc);
  }
  return acc;
}

float DotQ5_1(const BlockQ5_1* w, const BlockQ8_0* x, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    acc = AddBlockWithMin(acc, w[b].d, w[b].m, x[b], Q5BlockSum(w[b], x[b], 0));
  }
  return acc;
}

namespace {

// The Q4_K / Q5_K block sums: value(j, l) is the unsigned quant l of 32-value sub-block j.
template <typename Value>
void KBlockSumsWithMins(const uint8_t* scales, const BlockQ8_K& x, Value value, int32_t* scaled,
                        int32_t* mins) {
  int32_t s = 0, m = 0;
  for (int j = 0; j < kQK_K / 32; ++j) {
    uint8_t sc, mn;
    KScaleMin(j, scales, &sc, &mn);
    const int8_t* xq = x.qs + 32 * j;
    int32_t isum = 0;
    for (int l = 0; l < 32; ++l) isum += value(j, l) * xq[l];
    s += sc * isum;
    m += mn * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
  }
  *scaled = s;
  *mins = m;
}

}  // namespace

void Q4_KBlockSums(const BlockQ4_K& w, const BlockQ8_K& x, int32_t* scaled, int32_t* mins) {
  KBlockSumsWithMins(
      w.scales, x, [&](int j, int l) { return Q4_KQuant(w, j, l); }, scaled, mins);
}

void Q5_KBlockSums(const BlockQ5_K& w, const BlockQ8_K& x, int32_t* scaled, int32_t* mins) {
  KBlockSumsWithMins(
      w.scales, x, [&](int j, int l) { return Q5_KQuant(w, j, l); }, scaled, mins);
}

int32_t Q6_KBlockSum(const BlockQ6_K& w, const BlockQ8_K& x) {
  int8_t q[kQK_K];  // q - 32 in element order
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = w.ql + 64 * h;
    const uint8_t* qh = w.qh + 32 * h;
    int8_t* out = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      out[l] = static_cast<int8_t>(((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32);
      out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32);
      out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
  int32_t s = 0;
  for (int j = 0; j < kQK_K / 16; ++j) {
    int32_t isum = 0;
    for (int l = 0; l < 16; ++l) isum += q[16 * j + l] * x.qs[16 * j + l];
    s += w.scales[j] * isum;
  }
  return s;
}

namespace {

// The float steps shared by Q4_K and Q5_K (see DotQ4_K in matmul_internal.h).
template <typename Block, void (*kSums)(const Block&, const BlockQ8_K&, int32_t*, int32_t*)>
float DotWithMins(const Block* w, const BlockQ8_K* x, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t scaled, mins;
    kSums(w[b], x[b], &scaled, &mins);
    acc = std::fma(x[b].d * Fp16ToFp32(w[b].d), static_cast<float>(scaled), acc);
    acc = std::fma(-(x[b].d * Fp16ToFp32(w[b].dmin)), static_cast<float>(mins), acc);
  }
  return acc;
}

}  // namespace

float DotQ4_K(const BlockQ4_K* w, const BlockQ8_K* x, int64_t nb) {
  return DotWithMins<BlockQ4_K, Q4_KBlockSums>(w, x, nb);
}

float DotQ5_K(const BlockQ5_K* w, const BlockQ8_K* x, int64_t nb) {
  return DotWithMins<BlockQ5_K, Q5_KBlockSums>(w, x, nb);
}

float DotQ6_K(const BlockQ6_K* w, const BlockQ8_K* x, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    acc = std::fma(x[b].d * Fp16ToFp32(w[b].d), static_cast<float>(Q6_KBlockSum(w[b], x[b])), acc);
  }
  return acc;
}

}  // namespace tandem::matmul_internal
