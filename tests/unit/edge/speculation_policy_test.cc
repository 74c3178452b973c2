// SpeculationPolicy: drafts where they pay (slow link, good acceptance), none where they do
// not (fast link with a slow draft, or a draft the worker keeps rejecting), and measuring
// rounds while off so that it can turn itself on again.
#include "edge/speculation_policy.h"

#include <vector>

#include "gtest/gtest.h"

namespace tandem::edge {
namespace {

// Feeds `rounds` rounds in which a draft is accepted at the rate `acceptance`
// (deterministically: a draft is accepted while the credit it adds reaches a whole one),
// drafting costs `draft` per token and a round takes `rtt` plus `per_position` per draft.
void Simulate(SpeculationPolicy& policy, int32_t rounds, double acceptance, absl::Duration draft,
              absl::Duration rtt, absl::Duration per_position = absl::ZeroDuration()) {
  double credit = 0;
  for (int32_t i = 0; i < rounds; ++i) {
    const int32_t g = policy.NextDraftCount(16);
    int32_t accepted = 0;
    while (accepted < g) {
      credit += acceptance;
      if (credit < 1) break;
      credit -= 1;
      ++accepted;
    }
    policy.Observe(g, accepted, draft * g, rtt + per_position * g);
  }
}

TEST(SpeculationPolicyTest, FirstRoundMeasures) {
  SpeculationPolicy policy({.enabled = true});
  EXPECT_EQ(policy.NextDraftCount(16), 1);
  EXPECT_EQ(policy.NextDraftCount(0), 0);  // never beyond what the stream allows
}

TEST(SpeculationPolicyTest, ASlowLinkWithAGoodDraftDraftsMany) {
  SpeculationPolicy policy({.enabled = true, .max_draft_tokens = 8});
  Simulate(policy, 40, 0.9, absl::Milliseconds(2), absl::Milliseconds(40));
  EXPECT_GT(policy.acceptance(), 0.8);
  EXPECT_GE(policy.NextDraftCount(16), 4);
  EXPECT_GT(policy.TokensPerSecond(6), 2 * policy.TokensPerSecond(0));
}

TEST(SpeculationPolicyTest, AFastLinkWithASlowDraftTurnsItOff) {
  // Drafting a token costs as much as a whole round trip: guessing never pays.
  SpeculationPolicy policy({.enabled = true, .probe_interval = 1000});
  Simulate(policy, 30, 0.9, absl::Milliseconds(10), absl::Milliseconds(8));
  EXPECT_EQ(policy.NextDraftCount(16), 0);
}

TEST(SpeculationPolicyTest, ADraftTheWorkerRejectsTurnsItOffAndIsProbedAgain) {
  // (With drafts far cheaper than the round trip even a few accepted would pay, so the
  // drafts here cost a quarter of it.)
  SpeculationPolicy policy({.enabled = true, .probe_interval = 10});
  Simulate(policy, 30, 0.0, absl::Milliseconds(10), absl::Milliseconds(40));
  EXPECT_LT(policy.acceptance(), 0.2);
  // Probes come after 10, 20, 40, ... plain tokens: the interval doubles while they fail,
  // up to 16 times.
  std::vector<int32_t> probes;
  for (int32_t i = 0; i < 2000; ++i) {
    const int32_t g = policy.NextDraftCount(16);
    if (g > 0) probes.push_back(i);
    policy.Observe(g, 0, absl::Milliseconds(10) * g, absl::Milliseconds(40));
  }
  ASSERT_GE(probes.size(), 6u);
  EXPECT_EQ(probes[2] - probes[1], 2 * (probes[1] - probes[0]));
  EXPECT_EQ(probes.back() - probes[probes.size() - 2], 160);
  // The text turns predictable: the probes see it and drafting comes back.
  Simulate(policy, 400, 1.0, absl::Milliseconds(10), absl::Milliseconds(40));
  EXPECT_GT(policy.NextDraftCount(16), 2);
}

TEST(SpeculationPolicyTest, RoundTimeGrowsWithDrafts) {
  SpeculationPolicy policy({.enabled = true});
  Simulate(policy, 60, 0.8, absl::Milliseconds(1), absl::Milliseconds(20), absl::Milliseconds(3));
  // The fitted line: about 20 ms + 3 ms per draft.
  EXPECT_NEAR(absl::ToDoubleMilliseconds(policy.round_time(0)), 20, 2);
  EXPECT_NEAR(absl::ToDoubleMilliseconds(policy.round_time(4)), 32, 2);
}

TEST(SpeculationPolicyTest, OptionsAreValidated) {
  EXPECT_FALSE(SpeculationOptions{.max_draft_tokens = 0}.Validate().ok());
  EXPECT_FALSE(SpeculationOptions{.max_draft_tokens = 65}.Validate().ok());
  EXPECT_FALSE(SpeculationOptions{.probe_interval = 0}.Validate().ok());
  EXPECT_TRUE(SpeculationOptions{}.Validate().ok());
}

}  // namespace
}  // namespace tandem::edge
