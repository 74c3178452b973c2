#include "common/kernels/cpu_features.h"

#include <cstring>

#include "gtest/gtest.h"

namespace tandem {
namespace {

#if defined(__aarch64__)
TEST(CpuFeaturesTest, ParsesKernelLevelNames) {
  CpuIsa isa = CpuIsa::kNeonDotProd;
  ASSERT_TRUE(ParseCpuIsa("neon", &isa));
  EXPECT_EQ(isa, CpuIsa::kNeon);
  ASSERT_TRUE(ParseCpuIsa("dotprod", &isa));
  EXPECT_EQ(isa, CpuIsa::kNeonDotProd);
  EXPECT_FALSE(ParseCpuIsa("avx2", &isa));  // another architecture's level
  EXPECT_FALSE(ParseCpuIsa("", &isa));
}

TEST(CpuFeaturesTest, CapLowersTheKernelLevelAndRestores) {
  const CpuIsa before = KernelCpuIsa();
  const CpuIsa previous = SetCpuIsaCap(CpuIsa::kNeon);
  EXPECT_EQ(KernelCpuIsa(), CpuIsa::kNeon);
  EXPECT_STREQ(KernelSetName(), "neon");
  SetCpuIsaCap(CpuIsa::kNeonDotProd);
  EXPECT_EQ(KernelCpuIsa(), DetectedCpuIsa());
  EXPECT_STREQ(KernelSetName(), DetectedCpuIsa() == CpuIsa::kNeonDotProd ? "neon-dotprod" : "neon");
  SetCpuIsaCap(previous);
  EXPECT_EQ(KernelCpuIsa(), before);
}
#else
TEST(CpuFeaturesTest, ParsesKernelLevelNames) {
  CpuIsa isa = CpuIsa::kAvx2;
  ASSERT_TRUE(ParseCpuIsa("avx512vnni", &isa));
  EXPECT_EQ(isa, CpuIsa::kAvx512Vnni);
  ASSERT_TRUE(ParseCpuIsa("avxvnni", &isa));
  EXPECT_EQ(isa, CpuIsa::kAvxVnni);
  ASSERT_TRUE(ParseCpuIsa("avx2", &isa));
  EXPECT_EQ(isa, CpuIsa::kAvx2);
  EXPECT_FALSE(ParseCpuIsa("avx512", &isa));
  EXPECT_FALSE(ParseCpuIsa("", &isa));
}
#endif

#if defined(__x86_64__)
// cpuid/XGETBV detection agrees with the compiler runtime's view of the same bits.
TEST(CpuFeaturesTest, DetectionMatchesCompilerRuntime) {
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "no AVX2";
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  EXPECT_EQ(DetectedCpuIsa() == CpuIsa::kAvx512Vnni, avx512);
}

TEST(CpuFeaturesTest, CapLowersTheKernelLevelAndRestores) {
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "no AVX2";
  const CpuIsa before = KernelCpuIsa();
  const CpuIsa previous = SetCpuIsaCap(CpuIsa::kAvx2);
  EXPECT_EQ(KernelCpuIsa(), CpuIsa::kAvx2);
  EXPECT_STREQ(KernelSetName(), "avx2");
  // Raising the cap never goes above what the CPU has.
  SetCpuIsaCap(CpuIsa::kAvx512Vnni);
  EXPECT_EQ(KernelCpuIsa(), DetectedCpuIsa());
  SetCpuIsaCap(previous);
  EXPECT_EQ(KernelCpuIsa(), before);
}
#endif

}  // namespace
}  // namespace tandem
