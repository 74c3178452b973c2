#include <bit>
#include <cmath>
#include <random>

#include "common/util/fp16.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

TEST(HalfTest, KnownValues) {
  EXPECT_EQ(half::FromFloat(0.0f), 0x0000);
  EXPECT_EQ(half::FromFloat(-0.0f), 0x8000);
  EXPECT_EQ(half::FromFloat(1.0f), 0x3c00);
  EXPECT_EQ(half::FromFloat(-2.0f), 0xc000);
  EXPECT_EQ(half::FromFloat(65504.0f), 0x7bff);
  EXPECT_EQ(half::FromFloat(65519.0f), 0x7bff);  // rounds down to the largest half
  EXPECT_EQ(half::FromFloat(65520.0f), 0x7c00);  // tie rounds to even: Inf
  EXPECT_EQ(half::FromFloat(INFINITY), 0x7c00);
  EXPECT_EQ(half::FromFloat(-INFINITY), 0xfc00);
  EXPECT_TRUE(half::IsNonFinite(half::FromFloat(NAN)));
  EXPECT_NE(half::FromFloat(NAN) & 0x03ff, 0);   // still a NaN, not Inf
  EXPECT_EQ(half::FromFloat(0x1p-14f), 0x0400);  // smallest normal
  EXPECT_EQ(half::FromFloat(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(half::FromFloat(0x1p-25f), 0x0000);  // tie to even: zero
  EXPECT_EQ(half::FromFloat(0x1.8p-25f), 0x0001);
  // Ties between 1 and 1 + 2^-10 round to even.
  EXPECT_EQ(half::FromFloat(1.0f + 0x1p-11f), 0x3c00);
  EXPECT_EQ(half::FromFloat(1.0f + 3 * 0x1p-11f), 0x3c02);
  EXPECT_EQ(half::ToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(half::ToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(half::ToFloat(0x3555), 0x1.554p-2f);
  EXPECT_TRUE(std::isinf(half::ToFloat(0xfc00)));
  EXPECT_TRUE(std::isnan(half::ToFloat(0x7e00)));
}

TEST(HalfTest, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = half::ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(half::IsNonFinite(static_cast<uint16_t>(h)) && (h & 0x3ff) != 0) << h;
      continue;
    }
    ASSERT_EQ(half::FromFloat(f), h) << std::hex << h;
  }
}

// The compiler's half-precision conversions are IEEE round-to-nearest-even: a reference.
// aarch64: __fp16 (ARM's IEEE half, converted by FCVT); GCC 12's C++ front end has no
// _Float16 there although it defines __FLT16_MAX__.
#if defined(__aarch64__)
#define TANDEM_COMPILER_HALF __fp16
#elif defined(__FLT16_MAX__)
#define TANDEM_COMPILER_HALF _Float16
#endif

#if defined(TANDEM_COMPILER_HALF)
TEST(HalfTest, MatchesCompilerFloat16) {
  using CompilerHalf = TANDEM_COMPILER_HALF;
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const CompilerHalf ref = std::bit_cast<CompilerHalf>(static_cast<uint16_t>(h));
    const float f = half::ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(std::bit_cast<uint32_t>(f), std::bit_cast<uint32_t>(static_cast<float>(ref)));
  }
  std::mt19937 rng(3);
  for (int i = 0; i < 2000000; ++i) {
    // Random bit patterns cover all exponents; keep non-NaN ones.
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (std::isnan(f)) continue;
    ASSERT_EQ(half::FromFloat(f), std::bit_cast<uint16_t>(static_cast<CompilerHalf>(f)))
        << std::hexfloat << f;
  }
  // Dense sweep around the half range, where the rounding cases live.
  for (float f = 0x1p-26f; f < 70000.0f; f *= 1.0001f) {
    ASSERT_EQ(half::FromFloat(f), std::bit_cast<uint16_t>(static_cast<CompilerHalf>(f)))
        << std::hexfloat << f;
  }
}
#endif

TEST(HalfTest, AwayFromZeroNeverShrinksMagnitude) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> exponent(-30.0f, 16.0f);
  for (int i = 0; i < 100000; ++i) {
    float f = std::exp2(exponent(rng));
    if (i % 2) f = -f;
    const uint16_t h = half::FromFloatAwayFromZero(f);
    if (std::fabs(f) > half::kMax) {
      EXPECT_TRUE(half::IsNonFinite(h)) << f;
      continue;
    }
    const float back = half::ToFloat(h);
    ASSERT_GE(std::fabs(back), std::fabs(f)) << f;
    ASSERT_EQ(std::signbit(back), std::signbit(f)) << f;
    // ... and is the next half up at most: within one half ulp of |f|.
    const uint16_t below = static_cast<uint16_t>((h & 0x7fff) - 1);
    if ((h & 0x7fff) != 0) {
      ASSERT_LT(half::ToFloat(below), std::fabs(f)) << f;
    }
  }
  EXPECT_EQ(half::FromFloatAwayFromZero(1.0f), 0x3c00);    // exact stays
  EXPECT_EQ(half::FromFloatAwayFromZero(1e-30f), 0x0001);  // never rounds to zero
}

}  // namespace
}  // namespace tandem
