#include "common/tensor/quantize.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/tensor/quant_blocks.h"
#include "common/util/fp16.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

std::vector<float> RandomRow(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(QuantizeTest, Q8_0KnownBlock) {
  // amax = 127 gives d = 1 and id = 1, so q = roundf(x) (halves away from zero).
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = -127.0f;
  x[2] = 2.5f;
  x[3] = -2.5f;
  x[4] = 0.49f;
  x[5] = -0.51f;
  x[6] = 100.4f;
  x[31] = 1.5f;
  BlockQ8_0 b;
  QuantizeRow(GgmlType::kQ8_0, x.data(), &b, 32);
  EXPECT_EQ(b.d, 0x3c00);  // 1.0 in half
  const int8_t want[32] = {127, -127, 3, -3, 0, -1, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                           0,   0,    0, 0,  0, 0,  0,   0, 0, 0, 0, 0, 0, 0, 0, 2};
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b.qs[j], want[j]) << j;
}

TEST(QuantizeTest, Q4_0KnownBlockNegativeMax) {
  // The largest magnitude is -8, so d = -8 / -8 = 1, id = 1, q = min(15, (int8)(x + 8.5)).
  std::vector<float> x(32, 0.0f);
  x[0] = -8.0f;   // 0
  x[1] = 7.0f;    // 15
  x[2] = 7.6f;    // (int8)16.1 = 16 -> clamped to 15
  x[3] = -0.6f;   // (int8)7.9 = 7
  x[4] = 0.5f;    // (int8)9.0 = 9
  x[16] = 3.0f;   // 11, high nibble of byte 0
  x[17] = -7.4f;  // (int8)1.1 = 1, high nibble of byte 1
  BlockQ4_0 b;
  QuantizeRow(GgmlType::kQ4_0, x.data(), &b, 32);
  EXPECT_EQ(b.d, 0x3c00);
  EXPECT_EQ(b.qs[0], 0x00 | (11 << 4));
  EXPECT_EQ(b.qs[1], 15 | (1 << 4));
  EXPECT_EQ(b.qs[2], 15 | (8 << 4));
  EXPECT_EQ(b.qs[3], 7 | (8 << 4));
  EXPECT_EQ(b.qs[4], 9 | (8 << 4));
  for (int j = 5; j < 16; ++j) EXPECT_EQ(b.qs[j], 0x88) << j;  // zeros -> 8
}

TEST(QuantizeTest, Q4_0KnownBlockPositiveMax) {
  // max = 16 gives d = -2, id = -0.5: the positive extreme maps to q = 0.
  std::vector<float> x(32, 0.0f);
  x[0] = 16.0f;   // (int8)(-8 + 8.5) = 0
  x[1] = 2.0f;    // (int8)(-1 + 8.5) = 7
  x[2] = -14.0f;  // (int8)(7 + 8.5) = 15
  x[3] = -1.0f;   // (int8)(0.5 + 8.5) = 9
  BlockQ4_0 b;
  QuantizeRow(GgmlType::kQ4_0, x.data(), &b, 32);
  EXPECT_EQ(b.d, Fp32ToFp16(-2.0f));
  EXPECT_EQ(b.qs[0] & 0x0f, 0);
  EXPECT_EQ(b.qs[1] & 0x0f, 7);
  EXPECT_EQ(b.qs[2] & 0x0f, 15);
  EXPECT_EQ(b.qs[3] & 0x0f, 9);
  std::vector<float> back(32);
  DequantizeRow(GgmlType::kQ4_0, &b, back.data(), 32);
  EXPECT_EQ(back[0], 16.0f);
  EXPECT_EQ(back[1], 2.0f);
  EXPECT_EQ(back[2], -14.0f);
  EXPECT_EQ(back[3], -2.0f);  // 9 -> (9 - 8) * -2
  EXPECT_EQ(back[4], 0.0f);
}

TEST(QuantizeTest, ZeroBlocks) {
  std::vector<float> x(64, 0.0f), back(64, 1.0f);
  BlockQ8_0 q8[2];
  QuantizeRow(GgmlType::kQ8_0, x.data(), q8, 64);
  for (const BlockQ8_0& b : q8) {
    EXPECT_EQ(b.d, 0);
    for (int8_t q : b.qs) EXPECT_EQ(q, 0);
  }
  DequantizeRow(GgmlType::kQ8_0, q8, back.data(), 64);
  for (float v : back) EXPECT_EQ(v, 0.0f);
  BlockQ4_0 q4[2];
  QuantizeRow(GgmlType::kQ4_0, x.data(), q4, 64);
  for (const BlockQ4_0& b : q4) {
    EXPECT_EQ(Fp16ToFp32(b.d), 0.0f);  // max / -8 = -0 for an all-zero block
    for (uint8_t q : b.qs) EXPECT_EQ(q, 0x88);
  }
  DequantizeRow(GgmlType::kQ4_0, q4, back.data(), 64);
  for (float v : back) EXPECT_EQ(v, 0.0f);
}

TEST(QuantizeTest, Q8_0RoundTripWithinHalfStep) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const int64_t n = 32 * 37;
    std::vector<float> x = RandomRow(n, seed, seed * 0.3f);
    x[5] = 40.0f * seed;  // an outlier in one block
    std::vector<BlockQ8_0> q(n / 32);
    std::vector<float> back(n);
    QuantizeRow(GgmlType::kQ8_0, x.data(), q.data(), n);
    DequantizeRow(GgmlType::kQ8_0, q.data(), back.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const float d = Fp16ToFp32(q[i / 32].d);
      // Half a step, plus the half-precision rounding of d itself (|q| <= 127).
      EXPECT_LE(std::fabs(x[i] - back[i]), d * 0.5f + 127.0f * d * 0x1p-11f) << i;
    }
  }
}

TEST(QuantizeTest, Q4_0RoundTripWithinHalfStep) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const int64_t n = 32 * 37;
    const std::vector<float> x = RandomRow(n, seed, seed * 0.3f);
    std::vector<BlockQ4_0> q(n / 32);
    std::vector<float> back(n);
    QuantizeRow(GgmlType::kQ4_0, x.data(), q.data(), n);
    DequantizeRow(GgmlType::kQ4_0, q.data(), back.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const float d = std::fabs(Fp16ToFp32(q[i / 32].d));
      // Values on the far side of zero from the block's max reach +8 steps, one past the
      // largest code (15), so they may be off by a whole step; the rest by half a step.
      const float rounding = 8.0f * d * 0x1p-11f;
      const bool clamped = std::fabs(x[i]) > 7.5f * d;
      EXPECT_LE(std::fabs(x[i] - back[i]), (clamped ? d : 0.5f * d) + rounding) << i;
    }
  }
}

TEST(QuantizeTest, F16RoundTrip) {
  const int64_t n = 1000;
  const std::vector<float> x = RandomRow(n, 3, 10.0f);
  std::vector<uint16_t> h(n);
  std::vector<float> back(n);
  QuantizeRow(GgmlType::kF16, x.data(), h.data(), n);
  DequantizeRow(GgmlType::kF16, h.data(), back.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(h[i], Fp32ToFp16(x[i]));
    EXPECT_LE(std::fabs(x[i] - back[i]), std::fabs(x[i]) * 0x1p-11f + 0x1p-25f) << i;
  }
}

TEST(QuantizeTest, F32IsACopy) {
  const std::vector<float> x = RandomRow(33, 4);
  std::vector<float> y(33), back(33);
  QuantizeRow(GgmlType::kF32, x.data(), y.data(), 33);
  DequantizeRow(GgmlType::kF32, y.data(), back.data(), 33);
  EXPECT_EQ(back, x);
}

TEST(QuantizeTest, Q5_0KnownBlock) {
  // The largest magnitude is -16: d = 1, q = min(31, (int8)(x + 16.5)); fifth bits in qh.
  std::vector<float> x(32, 0.0f);
  x[0] = -16.0f;  // 0
  x[1] = 15.0f;   // 31
  x[2] = 15.7f;   // (int8)32.2 -> clamped to 31
  x[3] = 0.6f;    // (int8)17.1 = 17: low nibble 1, fifth bit set
  x[20] = -3.0f;  // 13, element 20: high nibble of byte 4, no fifth bit
  BlockQ5_0 b;
  QuantizeRow(GgmlType::kQ5_0, x.data(), &b, 32);
  EXPECT_EQ(b.d, 0x3c00);
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  EXPECT_EQ(b.qs[0] & 0x0f, 0);
  EXPECT_EQ(b.qs[1] & 0x0f, 15);
  EXPECT_EQ(b.qs[3] & 0x0f, 1);
  EXPECT_EQ(b.qs[4] >> 4, 13);
  EXPECT_EQ(qh & 0xf, 0b1110u);  // elements 1, 2, 3 have q >= 16
  EXPECT_EQ((qh >> 20) & 1, 0u);
  EXPECT_EQ((qh >> 16) & 1, 1u);  // element 16 is 0.0 -> q = 16
  std::vector<float> back(32);
  DequantizeRow(GgmlType::kQ5_0, &b, back.data(), 32);
  EXPECT_EQ(back[0], -16.0f);
  EXPECT_EQ(back[1], 15.0f);
  EXPECT_EQ(back[3], 1.0f);
  EXPECT_EQ(back[20], -3.0f);
}

TEST(QuantizeTest, Q4_1AndQ5_1KnownBlocks) {
  // min = -1, max = 14 (Q4_1): d = 1, q = (int8)(x + 1 + 0.5).
  std::vector<float> x(32, 0.0f);
  x[0] = -1.0f;
  x[1] = 14.0f;
  x[2] = 2.4f;   // (int8)3.9 = 3
  x[17] = 5.0f;  // 6, high nibble of byte 1
  BlockQ4_1 b;
  QuantizeRow(GgmlType::kQ4_1, x.data(), &b, 32);
  EXPECT_EQ(Fp16ToFp32(b.d), 1.0f);
  EXPECT_EQ(Fp16ToFp32(b.m), -1.0f);
  EXPECT_EQ(b.qs[0], 0 | (1 << 4));  // element 16 is 0.0 -> 1
  EXPECT_EQ(b.qs[1], 15 | (6 << 4));
  EXPECT_EQ(b.qs[2] & 0x0f, 3);
  // Q5_1 with min = -1, max = 30: d = 1, 31 levels.
  x[1] = 30.0f;
  BlockQ5_1 c;
  QuantizeRow(GgmlType::kQ5_1, x.data(), &c, 32);
  EXPECT_EQ(Fp16ToFp32(c.d), 1.0f);
  std::vector<float> back(32);
  DequantizeRow(GgmlType::kQ5_1, &c, back.data(), 32);
  EXPECT_EQ(back[0], -1.0f);
  EXPECT_EQ(back[1], 30.0f);
  EXPECT_EQ(back[2], 2.0f);
  EXPECT_EQ(back[17], 5.0f);
}

double RoundTripNmse(GgmlType type, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(RowBytes(type, n));
  std::vector<float> back(n);
  QuantizeRow(type, x.data(), q.data(), n);
  DequantizeRow(type, q.data(), back.data(), n);
  double err = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    err += (double(x[i]) - back[i]) * (double(x[i]) - back[i]);
    ref += double(x[i]) * x[i];
  }
  return err / ref;
}

// Gaussian rows: each type's error is the size its bits allow (bounds from the
// quantization step of each format, with margin), and more bits are never worse.
TEST(QuantizeTest, RoundTripErrorByType) {
  const std::vector<float> x = RandomRow(256 * 64, 9, 0.7f);
  struct Case {
    GgmlType type;
    double max_nmse;
  };
  for (const Case& c :
       {Case{GgmlType::kQ4_0, 1.2e-2}, Case{GgmlType::kQ4_1, 1.0e-2}, Case{GgmlType::kQ5_0, 3.0e-3},
        Case{GgmlType::kQ5_1, 2.5e-3}, Case{GgmlType::kQ4_K, 6.0e-3}, Case{GgmlType::kQ5_K, 1.6e-3},
        Case{GgmlType::kQ6_K, 4.0e-4}, Case{GgmlType::kQ8_0, 3.0e-5},
        Case{GgmlType::kBF16, 1.0e-5}}) {
    EXPECT_LT(RoundTripNmse(c.type, x), c.max_nmse) << TraitsOf(c.type).name;
  }
  EXPECT_LT(RoundTripNmse(GgmlType::kQ4_K, x), RoundTripNmse(GgmlType::kQ4_0, x));
  EXPECT_LT(RoundTripNmse(GgmlType::kQ5_K, x), RoundTripNmse(GgmlType::kQ4_K, x));
  EXPECT_LT(RoundTripNmse(GgmlType::kQ6_K, x), RoundTripNmse(GgmlType::kQ5_K, x));
}

// A super-block whose sub-blocks hold exactly representable grids round-trips exactly:
// checks the packing of the 6-bit scales and mins (sub-blocks 4..7 split their bits across
// three bytes) and of the quants, independently of the quantizer's search (a grid that
// spans [0, nmax] is fitted exactly by its first guess). Scales are 0.125 * L with
// L <= 63 and max 63, so the half-precision d = 0.125 and every 6-bit scale are exact.
TEST(QuantizeTest, KQuantsRoundTripExactGrids) {
  const int kL[8] = {63, 7, 9, 21, 1, 30, 45, 17};
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K}) {
    const int levels = type == GgmlType::kQ4_K ? 16 : 32;
    std::vector<float> x(256);
    for (int j = 0; j < 8; ++j) {
      for (int i = 0; i < 32; ++i) x[32 * j + i] = 0.125f * kL[j] * ((i * 7 + j) % levels);
    }
    std::vector<uint8_t> q(RowBytes(type, 256));
    std::vector<float> back(256);
    QuantizeRow(type, x.data(), q.data(), 256);
    DequantizeRow(type, q.data(), back.data(), 256);
    for (int i = 0; i < 256; ++i) ASSERT_EQ(back[i], x[i]) << TraitsOf(type).name << " " << i;
  }
  // Q6_K: values -32..31 (the -32 sets the scale exactly) in every 16-value sub-block.
  std::vector<float> x(256);
  for (int j = 0; j < 16; ++j) {
    for (int i = 0; i < 16; ++i) x[16 * j + i] = static_cast<float>(((i * 5 + j) % 64) - 32);
    x[16 * j] = -32.0f;
  }
  BlockQ6_K b;
  std::vector<float> back(256);
  QuantizeRow(GgmlType::kQ6_K, x.data(), &b, 256);
  DequantizeRow(GgmlType::kQ6_K, &b, back.data(), 256);
  for (int i = 0; i < 256; ++i) EXPECT_NEAR(back[i], x[i], 0.3f) << i;
}

TEST(QuantizeTest, KQuantZeroBlocks) {
  std::vector<float> x(512, 0.0f), back(512, 1.0f);
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    std::vector<uint8_t> q(RowBytes(type, 512), 0xff);
    QuantizeRow(type, x.data(), q.data(), 512);
    DequantizeRow(type, q.data(), back.data(), 512);
    for (float v : back) EXPECT_EQ(v, 0.0f) << TraitsOf(type).name;
  }
}

TEST(QuantizeTest, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between two bf16 values: ties to even (1.0); a bit more rounds up.
  const float x[4] = {1.0f + 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -2.5f, 0.0f};
  uint16_t h[4];
  QuantizeRow(GgmlType::kBF16, x, h, 4);
  EXPECT_EQ(h[0], 0x3f80);
  EXPECT_EQ(h[1], 0x3f81);
  float back[4];
  DequantizeRow(GgmlType::kBF16, h, back, 4);
  EXPECT_EQ(back[2], -2.5f);
  EXPECT_EQ(back[3], 0.0f);
}

}  // namespace
}  // namespace tandem
