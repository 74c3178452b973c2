#include "common/util/fp16.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

#include "gtest/gtest.h"

namespace tandem {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

bool IsHalfNan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

TEST(Fp16Test, EveryHalfRoundTrips) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t h = static_cast<uint16_t>(i);
    const float f = Fp16ToFp32(h);
    if (IsHalfNan(h)) {
      EXPECT_TRUE(std::isnan(f)) << i;
      EXPECT_TRUE(IsHalfNan(Fp32ToFp16(f))) << i;
    } else {
      EXPECT_EQ(Fp32ToFp16(f), h) << i;
    }
  }
}

TEST(Fp16Test, KnownValues) {
  EXPECT_EQ(Fp32ToFp16(0.0f), 0x0000);
  EXPECT_EQ(Fp32ToFp16(-0.0f), 0x8000);
  EXPECT_EQ(Fp32ToFp16(1.0f), 0x3c00);
  EXPECT_EQ(Fp32ToFp16(-2.0f), 0xc000);
  EXPECT_EQ(Fp32ToFp16(65504.0f), 0x7bff);   // largest finite
  EXPECT_EQ(Fp32ToFp16(65519.99f), 0x7bff);  // just below the rounding edge
  EXPECT_EQ(Fp32ToFp16(65520.0f), 0x7c00);   // rounds to infinity
  EXPECT_EQ(Fp32ToFp16(1e10f), 0x7c00);      // overflow
  EXPECT_EQ(Fp32ToFp16(-1e10f), 0xfc00);
  EXPECT_EQ(Fp32ToFp16(INFINITY), 0x7c00);
  EXPECT_EQ(Fp32ToFp16(-INFINITY), 0xfc00);
  EXPECT_TRUE(IsHalfNan(Fp32ToFp16(NAN)));
  EXPECT_EQ(Fp32ToFp16(0x1p-14f), 0x0400);    // smallest normal
  EXPECT_EQ(Fp32ToFp16(0x1p-24f), 0x0001);    // smallest subnormal
  EXPECT_EQ(Fp32ToFp16(0x1p-25f), 0x0000);    // tie -> even (zero)
  EXPECT_EQ(Fp32ToFp16(0x1.8p-25f), 0x0001);  // above the tie
  EXPECT_EQ(Fp32ToFp16(0x3p-25f), 0x0002);    // 1.5 ulp tie -> even (2)
  EXPECT_EQ(Fp32ToFp16(0x1p-26f), 0x0000);
  EXPECT_EQ(Fp32ToFp16(0x1.ff8p-15f), 0x03ff);         // exactly 1023 subnormal steps
  EXPECT_EQ(Fp32ToFp16(0x1.ffcp-15f), 0x0400);         // subnormal rounds up to normal
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x1p-11f), 0x3c00);      // tie -> even
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x3p-11f), 0x3c02);      // tie -> even (up)
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x1.004p-11f), 0x3c01);  // just above the tie
  EXPECT_FLOAT_EQ(Fp16ToFp32(0x3555), 0.333251953125f);
  EXPECT_EQ(Fp16ToFp32(0x0001), 0x1p-24f);
  EXPECT_EQ(Fp16ToFp32(0x83ff), -0x3ffp-24f);
  EXPECT_EQ(Fp16ToFp32(0x7c00), INFINITY);
  EXPECT_EQ(Fp16ToFp32(0xfc00), -INFINITY);
  EXPECT_TRUE(std::signbit(Fp16ToFp32(0x8000)));
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) uint16_t HardwareFp32ToFp16(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}
bool HaveHardwareFp16() { return __builtin_cpu_supports("f16c"); }
#elif defined(__aarch64__)
// fcvtn (ARMv8.0): round to nearest even in the default FPCR mode.
uint16_t HardwareFp32ToFp16(float f) {
  return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(f))), 0);
}
bool HaveHardwareFp16() { return true; }
#else
uint16_t HardwareFp32ToFp16(float) { return 0; }
bool HaveHardwareFp16() { return false; }
#endif

TEST(Fp16Test, MatchesF16cOnRandomFloats) {
  if (!HaveHardwareFp16()) GTEST_SKIP() << "no hardware half conversion (F16C / fcvtn)";
  std::mt19937 rng(7);
  // Random bit patterns cover every exponent; the narrow ranges hit the subnormal and
  // overflow edges densely.
  for (int i = 0; i < 2000000; ++i) {
    float f;
    switch (i % 3) {
      case 0:
        f = FromBits(rng());
        break;
      case 1:
        f = FromBits((rng() & 0x807fffffu) | ((0x66u + rng() % 12) << 23));
        break;
      default:
        f = FromBits((rng() & 0x807fffffu) | ((0x8cu + rng() % 6) << 23));
        break;
    }
    const uint16_t want = HardwareFp32ToFp16(f);
    const uint16_t got = Fp32ToFp16(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(IsHalfNan(got));
    } else {
      ASSERT_EQ(got, want) << std::hexfloat << f << " bits " << std::hex << Bits(f);
    }
  }
}

}  // namespace
}  // namespace tandem
