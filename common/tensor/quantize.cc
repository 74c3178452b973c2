#include "common/tensor/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/tensor/quant_blocks.h"
#include "common/util/fp16.h"

namespace tandem {
namespace {

// ggml's quantize_row_q8_0_ref: d = amax / 127, q = round(x / d) (half away from zero).
void QuantizeQ8_0(const float* src, BlockQ8_0* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* x = src + b * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    dst[b].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK8_0; ++j) dst[b].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  }
}

// ggml's quantize_row_q4_0_ref: d = max / -8 where max is the value of largest magnitude
// (signed), q = min(15, trunc(x / d + 8.5)).
void QuantizeQ4_0(const float* src, BlockQ4_0* dst, int64_t n) {
  constexpr int kHalf = kQK4_0 / 2;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* x = src + b * kQK4_0;
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    dst[b].d = Fp32ToFp16(d);
    for (int j = 0; j < kHalf; ++j) {
      const uint8_t lo =
          static_cast<uint8_t>(std::min<int8_t>(15, static_cast<int8_t>(x[j] * id + 8.5f)));
      const uint8_t hi =
          static_cast<uint8_t>(std::min<int8_t>(15, static_cast<int8_t>(x[kHalf + j] * id + 8.5f)));
      dst[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

}  // namespace

void QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, sizeof(float) * n);
      return;
    case GgmlType::kF16: {
      auto* out = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) out[i] = Fp32ToFp16(src[i]);
      return;
    }
    case GgmlType::kQ8_0:
      QuantizeQ8_0(src, static_cast<BlockQ8_0*>(dst), n);
      return;
    case GgmlType::kQ4_0:
      QuantizeQ4_0(src, static_cast<BlockQ4_0*>(dst), n);
      return;
    default:
      break;  // unsupported types are rejected when a model is loaded
  }
}

void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, sizeof(float) * n);
      return;
    case GgmlType::kF16: {
      const auto* in = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Fp16ToFp32(in[i]);
      return;
    }
    case GgmlType::kQ8_0: {
      const auto* in = static_cast<const BlockQ8_0*>(src);
      for (int64_t b = 0; b < n / kQK8_0; ++b) {
        const float d = Fp16ToFp32(in[b].d);
        for (int j = 0; j < kQK8_0; ++j) dst[b * kQK8_0 + j] = d * in[b].qs[j];
      }
      return;
    }
    case GgmlType::kQ4_0: {
      const auto* in = static_cast<const BlockQ4_0*>(src);
      constexpr int kHalf = kQK4_0 / 2;
      for (int64_t b = 0; b < n / kQK4_0; ++b) {
        const float d = Fp16ToFp32(in[b].d);
        float* out = dst + b * kQK4_0;
        for (int j = 0; j < kHalf; ++j) {
          out[j] = d * ((in[b].qs[j] & 0x0f) - 8);
          out[kHalf + j] = d * ((in[b].qs[j] >> 4) - 8);
        }
      }
      return;
    }
    default:
      break;
  }
}

}  // namespace tandem
