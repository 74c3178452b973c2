#include "common/tensor/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/tensor/quant_blocks.h"
#include "common/tensor/quantize_internal.h"
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

// ggml's quantize_row_q4_1_ref: d = (max - min) / 15, m = min, q = min(15, trunc((x - min)
// / d + 0.5)).
void QuantizeQ4_1(const float* src, BlockQ4_1* dst, int64_t n) {
  constexpr int kHalf = kQK4_1 / 2;
  for (int64_t b = 0; b < n / kQK4_1; ++b) {
    const float* x = src + b * kQK4_1;
    float min = std::numeric_limits<float>::max(), max = -std::numeric_limits<float>::max();
    for (int j = 0; j < kQK4_1; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / 15;
    const float id = d ? 1.0f / d : 0.0f;
    dst[b].d = Fp32ToFp16(d);
    dst[b].m = Fp32ToFp16(min);
    for (int j = 0; j < kHalf; ++j) {
      const uint8_t lo =
          static_cast<uint8_t>(std::min<int8_t>(15, static_cast<int8_t>((x[j] - min) * id + 0.5f)));
      const uint8_t hi = static_cast<uint8_t>(
          std::min<int8_t>(15, static_cast<int8_t>((x[kHalf + j] - min) * id + 0.5f)));
      dst[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// Packs 32 five-bit values (element j and j + 16 share a byte) into nibbles and fifth bits.
void Pack5(const uint8_t* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
    qh |= static_cast<uint32_t>((q[j] & 0x10u) >> 4) << j;
    qh |= static_cast<uint32_t>((q[j + 16] & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, sizeof(qh));
}

// ggml's quantize_row_q5_0_ref: d = max / -16 (max: the value of largest magnitude),
// q = min(31, trunc(x / d + 16.5)).
void QuantizeQ5_0(const float* src, BlockQ5_0* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK5_0; ++b) {
    const float* x = src + b * kQK5_0;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK5_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    dst[b].d = Fp32ToFp16(d);
    uint8_t q[kQK5_0];
    for (int j = 0; j < kQK5_0; ++j) {
      q[j] = static_cast<uint8_t>(std::min<int8_t>(31, static_cast<int8_t>(x[j] * id + 16.5f)));
    }
    Pack5(q, dst[b].qs, dst[b].qh);
  }
}

// ggml's quantize_row_q5_1_ref: d = (max - min) / 31, m = min, q = trunc((x - min) / d
// + 0.5).
void QuantizeQ5_1(const float* src, BlockQ5_1* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK5_1; ++b) {
    const float* x = src + b * kQK5_1;
    float min = std::numeric_limits<float>::max(), max = -std::numeric_limits<float>::max();
    for (int j = 0; j < kQK5_1; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / 31;
    const float id = d ? 1.0f / d : 0.0f;
    dst[b].d = Fp32ToFp16(d);
    dst[b].m = Fp32ToFp16(min);
    uint8_t q[kQK5_1];
    for (int j = 0; j < kQK5_1; ++j) q[j] = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
    Pack5(q, dst[b].qs, dst[b].qh);
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
    case GgmlType::kQ4_1:
      QuantizeQ4_1(src, static_cast<BlockQ4_1*>(dst), n);
      return;
    case GgmlType::kQ5_0:
      QuantizeQ5_0(src, static_cast<BlockQ5_0*>(dst), n);
      return;
    case GgmlType::kQ5_1:
      QuantizeQ5_1(src, static_cast<BlockQ5_1*>(dst), n);
      return;
    case GgmlType::kQ4_K:
      quantize_internal::QuantizeQ4_K(src, static_cast<BlockQ4_K*>(dst), n);
      return;
    case GgmlType::kQ5_K:
      quantize_internal::QuantizeQ5_K(src, static_cast<BlockQ5_K*>(dst), n);
      return;
    case GgmlType::kQ6_K:
      quantize_internal::QuantizeQ6_K(src, static_cast<BlockQ6_K*>(dst), n);
      return;
    case GgmlType::kBF16: {
      auto* out = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) out[i] = Fp32ToBf16(src[i]);
      return;
    }
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
    case GgmlType::kQ4_1: {
      const auto* in = static_cast<const BlockQ4_1*>(src);
      constexpr int kHalf = kQK4_1 / 2;
      for (int64_t b = 0; b < n / kQK4_1; ++b) {
        const float d = Fp16ToFp32(in[b].d), m = Fp16ToFp32(in[b].m);
        float* out = dst + b * kQK4_1;
        for (int j = 0; j < kHalf; ++j) {
          out[j] = (in[b].qs[j] & 0x0f) * d + m;
          out[kHalf + j] = (in[b].qs[j] >> 4) * d + m;
        }
      }
      return;
    }
    case GgmlType::kQ5_0: {
      const auto* in = static_cast<const BlockQ5_0*>(src);
      for (int64_t b = 0; b < n / kQK5_0; ++b) {
        const float d = Fp16ToFp32(in[b].d);
        int q[kQK5_0];
        quantize_internal::Unpack5(in[b].qs, in[b].qh, q);
        for (int j = 0; j < kQK5_0; ++j) dst[b * kQK5_0 + j] = (q[j] - 16) * d;
      }
      return;
    }
    case GgmlType::kQ5_1: {
      const auto* in = static_cast<const BlockQ5_1*>(src);
      for (int64_t b = 0; b < n / kQK5_1; ++b) {
        const float d = Fp16ToFp32(in[b].d), m = Fp16ToFp32(in[b].m);
        int q[kQK5_1];
        quantize_internal::Unpack5(in[b].qs, in[b].qh, q);
        for (int j = 0; j < kQK5_1; ++j) dst[b * kQK5_1 + j] = q[j] * d + m;
      }
      return;
    }
    case GgmlType::kQ4_K:
      quantize_internal::DequantizeQ4_K(static_cast<const BlockQ4_K*>(src), dst, n);
      return;
    case GgmlType::kQ5_K:
      quantize_internal::DequantizeQ5_K(static_cast<const BlockQ5_K*>(src), dst, n);
      return;
    case GgmlType::kQ6_K:
      quantize_internal::DequantizeQ6_K(static_cast<const BlockQ6_K*>(src), dst, n);
      return;
    case GgmlType::kBF16: {
      const auto* in = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFp32(in[i]);
      return;
    }
    default:
      break;
  }
}

}  // namespace tandem
