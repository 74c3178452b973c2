#include "cloud/token_sampling.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace tandem::cloud {
namespace {

TEST(TokenSamplingTest, LogprobsAreALogSoftmax) {
  const std::vector<float> l = {1.0f, 3.0f, 3.0f, -2.0f};
  std::vector<TokenLogprob> top;
  const float lp = LogprobOf(l, 0, 3, &top);
  double z = 0;
  for (float x : l) z += std::exp(x);
  EXPECT_NEAR(lp, 1.0 - std::log(z), 1e-6);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].token, 1);  // ties: lower id first
  EXPECT_EQ(top[1].token, 2);
  EXPECT_EQ(top[2].token, 0);
  EXPECT_NEAR(top[0].logprob, 3.0 - std::log(z), 1e-6);
  // k beyond the vocabulary is clamped; k = 0 leaves `top` empty.
  LogprobOf(l, 0, 10, &top);
  EXPECT_EQ(top.size(), 4u);
  LogprobOf(l, 0, 0, &top);
  EXPECT_TRUE(top.empty());
}

}  // namespace
}  // namespace tandem::cloud
