#include "common/codec/q8_codec.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/codec/wire_blocks.h"
#include "common/util/fp16.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

using ::testing::HasSubstr;

WireQ8Block BlockAt(const std::string& payload, size_t b) {
  WireQ8Block block;
  std::memcpy(&block, payload.data() + b * sizeof(block), sizeof(block));
  return block;
}

TEST(Q8CodecTest, KnownBlockLayout) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = -63.5f;  // tie: rounds to even, -64
  x[2] = 0.49f;
  x[31] = -127.0f;
  std::string payload;
  ASSERT_TRUE(Q8Codec().Encode(x, 1, 32, &payload).ok());
  ASSERT_EQ(payload.size(), 34u);
  const WireQ8Block block = BlockAt(payload, 0);
  EXPECT_EQ(block.d, 0x3c00);  // 1.0 as a half, first two bytes, little-endian
  EXPECT_EQ(static_cast<uint8_t>(payload[0]), 0x00);
  EXPECT_EQ(static_cast<uint8_t>(payload[1]), 0x3c);
  EXPECT_EQ(block.qs[0], 127);
  EXPECT_EQ(block.qs[1], -64);
  EXPECT_EQ(block.qs[2], 0);
  EXPECT_EQ(block.qs[31], -127);
}

TEST(Q8CodecTest, ErrorAtMostHalfTheBlockScale) {
  std::mt19937 rng(21);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::uniform_real_distribution<float> log_scale(-12.0f, 12.0f);
  const int32_t n = 8, dim = 1024;
  std::vector<float> x(n * dim);
  // Each block gets its own magnitude, from tiny (subnormal half scales) to ~4e5.
  for (size_t b = 0; b < x.size() / 32; ++b) {
    const float scale = std::exp2(log_scale(rng));
    for (int i = 0; i < 32; ++i) x[b * 32 + i] = scale * dist(rng);
  }
  std::string payload;
  ASSERT_TRUE(Q8Codec().Encode(x, n, dim, &payload).ok());
  std::vector<float> y(x.size());
  ASSERT_TRUE(Q8Codec().Decode(payload, n, dim, absl::MakeSpan(y)).ok());
  for (size_t b = 0; b < x.size() / 32; ++b) {
    const float d = half::ToFloat(BlockAt(payload, b).d);
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    // The f16 scale is rounded up: no code clips, and it costs at most one half ulp
    // (2^-10 relative for normal halves, 2^-24 absolute for subnormal ones).
    ASSERT_GE(d, amax / 127.0f) << b;
    ASSERT_LE(d, amax / 127.0f + std::max(amax / 127.0f * 0x1p-10f, 0x1p-24f)) << b;
    for (int i = 0; i < 32; ++i) {
      const size_t at = b * 32 + i;
      // d/2 plus one float rounding of x * (1/d).
      ASSERT_LE(std::fabs(y[at] - x[at]), d * 0.5f * (1.0f + 1e-6f)) << at;
    }
  }
}

TEST(Q8CodecTest, ZeroBlockDecodesToZero) {
  std::vector<float> x(64, 0.0f);
  x[40] = 3.0f;
  std::string payload;
  ASSERT_TRUE(Q8Codec().Encode(x, 1, 64, &payload).ok());
  EXPECT_EQ(BlockAt(payload, 0).d, 0);
  std::vector<float> y(64, 1.0f);
  ASSERT_TRUE(Q8Codec().Decode(payload, 1, 64, absl::MakeSpan(y)).ok());
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.0f);
  EXPECT_NEAR(y[40], 3.0f, 3.0f / 127 / 2 * 1.001f);
}

TEST(Q8CodecTest, RangeLimitIs127TimesHalfMax) {
  std::vector<float> x(32, 1.0f);
  std::string payload;
  x[5] = 8.0e6f;  // / 127 = 62992 < 65504
  EXPECT_TRUE(Q8Codec().Encode(x, 1, 32, &payload).ok());
  x[5] = 9.0e6f;
  const absl::Status st = Q8Codec().Encode(x, 1, 32, &payload);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("row 0 block 0"));
}

TEST(Q8CodecTest, DimMustBeMultipleOf32) {
  EXPECT_TRUE(Q8Codec().ValidateDim(4096).ok());
  EXPECT_EQ(Q8Codec().ValidateDim(100).code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> x(48, 1.0f);
  std::string payload;
  EXPECT_EQ(Q8Codec().Encode(x, 1, 48, &payload).code(), absl::StatusCode::kInvalidArgument);
}

TEST(Q8CodecTest, RejectsNonFiniteScaleNamingRowAndBlock) {
  std::vector<float> x(3 * 96, 0.5f);
  std::string payload;
  ASSERT_TRUE(Q8Codec().Encode(x, 3, 96, &payload).ok());
  for (uint16_t bad : {uint16_t{0x7c00}, uint16_t{0x7e00}, uint16_t{0xfc00}}) {
    std::string corrupt = payload;
    std::memcpy(corrupt.data() + (1 * 3 + 2) * sizeof(WireQ8Block), &bad, 2);  // row 1, block 2
    std::vector<float> y(x.size());
    const absl::Status st = Q8Codec().Decode(corrupt, 3, 96, absl::MakeSpan(y));
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(st.message(), HasSubstr("row 1 block 2"));
  }
}

}  // namespace
}  // namespace tandem
