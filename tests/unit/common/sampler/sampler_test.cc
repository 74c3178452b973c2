#include "common/sampler/sampler.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace tandem {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

SamplingParams Params(float temperature, int32_t top_k, float top_p, uint64_t seed = 1) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.seed = seed;
  return p;
}

// Deterministic pseudo-random logits in [-4, 4), with some exact ties.
std::vector<float> RandomLogits(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> logits(n);
  for (float& l : logits) l = static_cast<float>(rng() % 64) / 8.0f - 4.0f;
  return logits;
}

// Reference softmax(logits / temperature), in double.
std::vector<double> Softmax(const std::vector<float>& logits, double temperature) {
  double max = -INFINITY;
  for (float l : logits) max = std::max<double>(max, l);
  std::vector<double> p;
  double sum = 0;
  for (float l : logits) sum += p.emplace_back(std::exp((l - max) / temperature));
  for (double& x : p) x /= sum;
  return p;
}

std::vector<int> Histogram(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size());
  for (int i = 0; i < draws; ++i) {
    const int32_t id = sampler.Sample(logits, /*position=*/i);
    EXPECT_GE(id, 0);
    EXPECT_LT(id, static_cast<int32_t>(logits.size()));
    if (id >= 0 && id < static_cast<int32_t>(logits.size())) ++counts[id];
  }
  return counts;
}

// Pearson's chi-square of observed counts against expected probabilities (bins with
// zero probability must stay empty).
double ChiSquare(const std::vector<int>& counts, const std::vector<double>& probs, int draws) {
  double chi2 = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (probs[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "id " << i;
      continue;
    }
    const double expected = probs[i] * draws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi2;
}

TEST(SamplingParamsTest, Validate) {
  EXPECT_TRUE(SamplingParams{}.Validate().ok());
  EXPECT_TRUE(Params(0, 0, 1).Validate().ok());
  EXPECT_TRUE(Params(2, -1, 0.01f).Validate().ok());
  for (const SamplingParams& bad :
       {Params(kNaN, 40, 0.9f), Params(-0.1f, 40, 0.9f), Params(kInf, 40, 0.9f),
        Params(0.8f, 40, 0), Params(0.8f, 40, -0.5f), Params(0.8f, 40, 1.01f),
        Params(0.8f, 40, kNaN)}) {
    EXPECT_EQ(bad.Validate().code(), absl::StatusCode::kInvalidArgument)
        << bad.temperature << " " << bad.top_p;
  }
}

TEST(SamplerTest, GreedyPicksArgmaxLowestIdOnTies) {
  Sampler sampler(Params(0, 40, 0.95f));
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.1f, 3.0f, -2.0f, 2.9f}, 0), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{1.0f, 5.0f, 5.0f, 5.0f}, 0), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{-kInf, -3.0f, -kInf}, 0), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{kNaN, 1.0f, kNaN, 2.0f}, 0), 3);
  EXPECT_EQ(sampler.Sample(std::vector<float>{7.0f}, 0), 0);
  for (uint64_t s = 0; s < 20; ++s) {
    std::vector<float> logits = RandomLogits(1000, s);
    const auto max = std::max_element(logits.begin(), logits.end());  // first maximum
    EXPECT_EQ(sampler.Sample(logits, 0), max - logits.begin());
  }
}

TEST(SamplerTest, TopK1IsGreedyAtAnyTemperature) {
  Sampler greedy(Params(0, 0, 1));
  for (float temperature : {0.01f, 0.5f, 1.0f, 10.0f, 1000.0f}) {
    for (float top_p : {0.1f, 1.0f}) {
      Sampler top1(Params(temperature, 1, top_p, /*seed=*/7));
      for (uint64_t s = 0; s < 20; ++s) {
        std::vector<float> logits = RandomLogits(300, s);
        EXPECT_EQ(top1.Sample(logits, s), greedy.Sample(logits, s)) << temperature;
      }
    }
  }
}

TEST(SamplerTest, SameSeedSameSequenceDifferentSeedsDiffer) {
  const std::vector<float> logits = RandomLogits(500, 3);
  auto run = [&](uint64_t seed) {
    Sampler sampler(Params(1.0f, 0, 1.0f, seed));
    std::vector<int32_t> ids;
    for (int i = 0; i < 200; ++i) ids.push_back(sampler.Sample(logits, i));
    return ids;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  EXPECT_NE(run(0), run(1));
}

TEST(SamplerTest, DrawDependsOnSeedAndPositionOnly) {
  // One sampler drawing positions in order must agree with another that drew other
  // positions with other logits before, in reverse order: no state carries over between
  // draws (a session resumed, replayed or moved samples the same at each position).
  const std::vector<float> a(64, 0.0f);  // uniform: the draw is all randomness
  const std::vector<float> b = RandomLogits(64, 2);
  const SamplingParams params = Params(1.0f, 0, 1.0f, /*seed=*/7);
  Sampler forward(params), backward(params);
  std::vector<int32_t> in_order, reversed(32);
  for (int32_t pos = 0; pos < 32; ++pos) in_order.push_back(forward.Sample(a, pos));
  for (int32_t pos = 31; pos >= 0; --pos) {
    backward.Sample(b, pos + 100);
    reversed[pos] = backward.Sample(a, pos);
  }
  EXPECT_EQ(in_order, reversed);
  // The draw does change with the position and with the seed.
  int32_t distinct = 0;
  for (int32_t pos = 1; pos < 32; ++pos) distinct += in_order[pos] != in_order[0];
  EXPECT_GT(distinct, 16);
  Sampler other_seed(Params(1.0f, 0, 1.0f, /*seed=*/8));
  int32_t differ = 0;
  for (int32_t pos = 0; pos < 32; ++pos) differ += other_seed.Sample(a, pos) != in_order[pos];
  EXPECT_GT(differ, 16);
}

TEST(SamplerTest, DrawIsPinned) {
  // The rule is part of the contract between builds (an edge and a worker of different
  // versions must agree): these tokens are what (seed 42, uniform logits over 1000 ids)
  // gives at positions 0..7, as the worker of the first release drew them.
  const std::vector<float> uniform(1000, 0.0f);
  Sampler sampler(Params(1.0f, 0, 1.0f, /*seed=*/42));
  std::vector<int32_t> ids;
  for (int32_t pos = 0; pos < 8; ++pos) ids.push_back(sampler.Sample(uniform, pos));
  EXPECT_EQ(ids, (std::vector<int32_t>{845, 17, 662, 85, 567, 945, 721, 452}));
}

TEST(SamplerTest, FrequenciesMatchSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 2.0f};
  constexpr int kDraws = 200000;
  for (float temperature : {0.7f, 1.0f, 1.8f}) {
    Sampler sampler(Params(temperature, 0, 1.0f, /*seed=*/12345));
    const std::vector<int> counts = Histogram(sampler, logits, kDraws);
    // 5 degrees of freedom: P(chi2 > 25) is about 1.4e-4 for a correct sampler.
    EXPECT_LT(ChiSquare(counts, Softmax(logits, temperature), kDraws), 25.0) << temperature;
  }
}

TEST(SamplerTest, TopKKeepsTheKBest) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 2.0f};
  constexpr int kDraws = 100000;
  Sampler sampler(Params(1.0f, 3, 1.0f, 99));
  const std::vector<int> counts = Histogram(sampler, logits, kDraws);
  // Kept: ids 4 (3.0), 1 and 5 (2.0); the rest renormalized away.
  std::vector<double> probs = Softmax({-INFINITY, 2.0f, -INFINITY, -INFINITY, 3.0f, 2.0f}, 1.0);
  EXPECT_LT(ChiSquare(counts, probs, kDraws), 20.0);  // 2 dof: P(> 20) ~ 4.5e-5
}

TEST(SamplerTest, TopKTieAtTheCutKeepsLowerIds) {
  Sampler sampler(Params(1.0f, 2, 1.0f, 4));
  const std::vector<float> logits = {1.0f, 5.0f, 1.0f, 1.0f};
  std::vector<int> counts = Histogram(sampler, logits, 2000);
  EXPECT_EQ(counts[2] + counts[3], 0);
  EXPECT_GT(counts[0], 0);
}

TEST(SamplerTest, TopPKeepsSmallestSetReachingP) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 (ids shuffled).
  const std::vector<float> logits = {std::log(0.15f), std::log(0.5f), std::log(0.05f),
                                     std::log(0.3f)};
  constexpr int kDraws = 100000;
  {
    Sampler sampler(Params(1.0f, 0, 0.45f, 8));  // 0.5 >= 0.45: only id 1
    const std::vector<int> counts = Histogram(sampler, logits, 1000);
    EXPECT_EQ(counts[1], 1000);
  }
  {
    Sampler sampler(Params(1.0f, 0, 0.75f, 8));  // 0.5 + 0.3 >= 0.75: ids 1, 3
    const std::vector<int> counts = Histogram(sampler, logits, kDraws);
    EXPECT_LT(ChiSquare(counts, {0, 0.5 / 0.8, 0, 0.3 / 0.8}, kDraws), 15.0);  // 1 dof
  }
  {
    Sampler sampler(Params(1.0f, 0, 0.9f, 8));  // 0.8 < 0.9 <= 0.95: ids 1, 3, 0
    const std::vector<int> counts = Histogram(sampler, logits, kDraws);
    EXPECT_LT(ChiSquare(counts, {0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95}, kDraws), 20.0);
  }
  {
    Sampler sampler(Params(1.0f, 0, 1.0f, 8));  // everything
    const std::vector<int> counts = Histogram(sampler, logits, kDraws);
    EXPECT_LT(ChiSquare(counts, {0.15, 0.5, 0.05, 0.3}, kDraws), 20.0);
  }
}

TEST(SamplerTest, NonFiniteLogits) {
  Sampler sampler(Params(1.0f, 0, 0.95f, 3));
  // NaN is never picked.
  std::vector<int> counts = Histogram(sampler, {kNaN, 0.0f, kNaN, 0.5f, kNaN}, 2000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
  // All NaN or -inf: the lowest id, without crashing.
  EXPECT_EQ(sampler.Sample(std::vector<float>{kNaN, kNaN, kNaN}, 0), 0);
  EXPECT_EQ(sampler.Sample(std::vector<float>{-kInf, kNaN, -kInf}, 0), 0);
  Sampler greedy(Params(0, 0, 1));
  EXPECT_EQ(greedy.Sample(std::vector<float>{kNaN, kNaN}, 0), 0);
  // +inf logits share the probability between them.
  counts = Histogram(sampler, {1.0f, kInf, 3.0f, kInf}, 2000);
  EXPECT_EQ(counts[0] + counts[2], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
}

TEST(SamplerTest, EmptyLogits) {
  Sampler sampler(SamplingParams{});
  EXPECT_EQ(sampler.Sample({}, 0), -1);
}

}  // namespace
}  // namespace tandem
