// SpeculationPolicy: drafts where they pay (slow link, good acceptance), none where they do
// not (fast link with a slow draft, or a draft the worker keeps rejecting), and measuring
// rounds while off so that it can turn itself on again.
#include "edge/speculation_policy.h"

#include "gtest/gtest.h"

namespace tandem::edge {
namespace {

// Feeds `rounds` rounds in which each draft is accepted with probability about
// `acceptance` (deterministically: the first floor(g * acceptance) of g), drafting costs
// `draft` per token and a round takes `rtt` plus `per_position` per draft.
void Simulate(SpeculationPolicy& policy, int32_t rounds, double acceptance, absl::Duration draft,
              absl::Duration rtt, absl::Duration per_position = absl::ZeroDuration()) {
  for (int32_t i = 0; i < rounds; ++i) {
    const int32_t g = policy.NextDraftCount(16);
    const int32_t accepted = static_cast<int32_t>(g * acceptance);
    policy.Observe(g, accepted, draft * g, rtt + per_position * g);
  }
}

TEST(SpeculationPolicyTest, FirstRoundMeasures) {
  SpeculationPolicy policy({.enabled = true});
  EXPECT_EQ(policy.NextDraftCount(16), 2);
  EXPECT_EQ(policy.NextDraftCount(1), 1);  // never beyond what the stream allows
  EXPECT_EQ(policy.NextDraftCount(0), 0);
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
  int32_t probes = 0;
  for (int32_t i = 0; i < 100; ++i) {
    const int32_t g = policy.NextDraftCount(16);
    if (g > 0) ++probes;
    policy.Observe(g, 0, absl::Milliseconds(10) * g, absl::Milliseconds(40));
  }
  EXPECT_GE(probes, 9);
  EXPECT_LE(probes, 11);
  // The text turns predictable: the probes see it and drafting comes back.
  Simulate(policy, 200, 1.0, absl::Milliseconds(10), absl::Milliseconds(40));
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
