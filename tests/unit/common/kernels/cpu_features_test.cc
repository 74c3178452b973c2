#include "common/kernels/cpu_features.h"

#include <cstring>

#include "gtest/gtest.h"

namespace tandem {
namespace {

// Each architecture's level names; another architecture's names and unknown ones fail.
TEST(CpuFeaturesTest, ParsesKernelLevelNames) {
  struct Name {
    const char* text;
    CpuIsa isa;
  };
#if defined(__aarch64__)
  const Name known[] = {{"neon", CpuIsa::kNeon}, {"dotprod", CpuIsa::kNeonDotProd}};
  const char* unknown[] = {"avx2", ""};
#else
  const Name known[] = {
      {"avx512vnni", CpuIsa::kAvx512Vnni}, {"avxvnni", CpuIsa::kAvxVnni}, {"avx2", CpuIsa::kAvx2}};
  const char* unknown[] = {"avx512", "neon", ""};
#endif
  for (const Name& name : known) {
    CpuIsa isa{};
    ASSERT_TRUE(ParseCpuIsa(name.text, &isa)) << name.text;
    EXPECT_EQ(isa, name.isa) << name.text;
  }
  for (const char* text : unknown) {
    CpuIsa isa{};
    EXPECT_FALSE(ParseCpuIsa(text, &isa)) << text;
  }
}

#if defined(__aarch64__)
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
