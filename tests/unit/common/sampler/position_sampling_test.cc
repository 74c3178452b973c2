#include "common/sampler/position_sampling.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace tandem {
namespace {

std::vector<float> Logits() {
  std::vector<float> l(64);
  for (size_t i = 0; i < l.size(); ++i) l[i] = std::sin(0.7f * i) * 3;
  return l;
}

TEST(PositionSamplingTest, GreedyIsArgmax) {
  std::vector<float> l = Logits();
  l[17] = 10;
  EXPECT_EQ(SampleAt(SamplingParams{.temperature = 0}, 5, l), 17);
}

TEST(PositionSamplingTest, DrawDependsOnSeedAndPositionOnly) {
  const std::vector<float> l(64, 0.0f);  // uniform: the draw is all randomness
  const SamplingParams p{.temperature = 1, .top_k = 0, .top_p = 1, .seed = 7};
  std::vector<int32_t> a, b;
  for (int32_t pos = 0; pos < 32; ++pos) a.push_back(SampleAt(p, pos, l));
  for (int32_t pos = 31; pos >= 0; --pos) b.insert(b.begin(), SampleAt(p, pos, l));
  EXPECT_EQ(a, b);
  // Different positions and seeds do not all give the same token.
  bool varied = false;
  for (int32_t pos = 1; pos < 32; ++pos) varied |= a[pos] != a[0];
  EXPECT_TRUE(varied);
  std::vector<int32_t> c;
  SamplingParams q = p;
  q.seed = 8;
  for (int32_t pos = 0; pos < 32; ++pos) c.push_back(SampleAt(q, pos, l));
  EXPECT_NE(a, c);
}

}  // namespace
}  // namespace tandem
