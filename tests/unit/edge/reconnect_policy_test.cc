// The reconnect policy and the step deadline, on a clock the test moves by hand.
#include "edge/reconnect_policy.h"

#include "edge/resilient_generator.h"
#include "edge/step_deadline.h"
#include "gtest/gtest.h"
#include "tests/unit/cloud/fake_clock.h"

namespace tandem::edge {
namespace {

using ManualClock = cloud::FakeClock;

ReconnectOptions Options() {
  ReconnectOptions o;
  o.initial_backoff = absl::Milliseconds(100);
  o.max_backoff = absl::Seconds(1);
  o.multiplier = 2;
  o.jitter = 0.2;
  return o;
}

TEST(ReconnectPolicyTest, BackoffGrowsExponentiallyUpToTheCap) {
  ManualClock clock;
  ReconnectPolicy policy(Options(), 1, clock, 1);
  EXPECT_EQ(policy.BaseBackoff(0), absl::ZeroDuration());
  EXPECT_EQ(policy.BaseBackoff(1), absl::Milliseconds(100));
  EXPECT_EQ(policy.BaseBackoff(2), absl::Milliseconds(200));
  EXPECT_EQ(policy.BaseBackoff(4), absl::Milliseconds(800));
  EXPECT_EQ(policy.BaseBackoff(5), absl::Seconds(1));
  EXPECT_EQ(policy.BaseBackoff(1000), absl::Seconds(1));
}

TEST(ReconnectPolicyTest, FirstAttemptAtOnceThenJitteredBackoff) {
  ManualClock clock;
  ReconnectPolicy policy(Options(), 1, clock, 7);
  EXPECT_FALSE(policy.in_outage());
  EXPECT_FALSE(policy.AttemptDue());
  policy.OnFailure(0);
  EXPECT_TRUE(policy.in_outage());
  EXPECT_TRUE(policy.AttemptDue());  // a dropped connection often comes back at once
  for (int failures = 1; failures <= 8; ++failures) {
    ASSERT_TRUE(policy.AttemptDue()) << failures;
    policy.AttemptStarted();
    EXPECT_FALSE(policy.AttemptDue());  // one at a time
    policy.OnFailure(0);
    const absl::Duration wait = policy.next_attempt() - clock.Now();
    const absl::Duration base = policy.BaseBackoff(failures);
    EXPECT_GE(wait, base * 0.8) << failures;
    EXPECT_LE(wait, base * 1.2) << failures;
    EXPECT_FALSE(policy.AttemptDue());
    clock.Advance(wait);
  }
  EXPECT_EQ(policy.failed_attempts(), 8);
  policy.OnSuccess(0);
  EXPECT_FALSE(policy.in_outage());
  EXPECT_EQ(policy.failed_attempts(), 0);
}

TEST(ReconnectPolicyTest, JitterSpreadsDevices) {
  ManualClock clock;
  absl::Duration first_wait[2];
  for (uint64_t seed : {1u, 2u}) {
    ReconnectPolicy policy(Options(), 1, clock, seed);
    policy.OnFailure(0);
    policy.AttemptStarted();
    policy.OnFailure(0);
    first_wait[seed - 1] = policy.next_attempt() - clock.Now();
  }
  EXPECT_NE(first_wait[0], first_wait[1]);
}

TEST(ReconnectPolicyTest, EndpointsRoundRobinFromTheOneThatFailed) {
  ManualClock clock;
  ReconnectPolicy policy(Options(), 3, clock, 1);
  EXPECT_EQ(policy.preferred(), 0);
  policy.OnFailure(1);
  std::vector<int32_t> order;
  for (int i = 0; i < 5; ++i) {
    order.push_back(policy.NextEndpoint());
    policy.AttemptStarted();
    policy.OnFailure(order.back());
  }
  EXPECT_EQ(order, (std::vector<int32_t>{1, 2, 0, 1, 2}));
  policy.OnSuccess(2);
  EXPECT_EQ(policy.preferred(), 2);
}

TEST(ReconnectPolicyTest, DisabledEndpointsAreSkippedForMaxBackoff) {
  ManualClock clock;
  ReconnectPolicy policy(Options(), 2, clock, 1);
  policy.Disable(0);
  policy.OnFailure(0);
  EXPECT_EQ(policy.NextEndpoint(), 1);
  policy.Disable(1);
  EXPECT_EQ(policy.NextEndpoint(), -1);
  EXPECT_FALSE(policy.AttemptDue());
  clock.Advance(absl::Seconds(1));
  EXPECT_GE(policy.NextEndpoint(), 0);
}

TEST(ReconnectPolicyTest, AnAbandonedAttemptDoesNotBlockTheNext) {
  ManualClock clock;
  ReconnectPolicy policy(Options(), 1, clock, 1);
  policy.OnFailure(0);
  policy.AttemptStarted();
  EXPECT_FALSE(policy.AttemptDue());
  policy.AttemptAbandoned();
  EXPECT_TRUE(policy.AttemptDue());
  // Abandoning nothing does not cut a backoff short.
  policy.AttemptStarted();
  policy.OnFailure(0);
  policy.AttemptAbandoned();
  EXPECT_FALSE(policy.AttemptDue());
}

TEST(ReconnectPolicyTest, OptionsAreValidated) {
  EXPECT_TRUE(Options().Validate().ok());
  ReconnectOptions o = Options();
  o.max_backoff = absl::Milliseconds(10);
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  o = Options();
  o.jitter = 1;
  EXPECT_FALSE(o.Validate().ok());
  o = Options();
  o.multiplier = 0.5;
  EXPECT_FALSE(o.Validate().ok());
  o = Options();
  o.min_fallback_tokens = -1;
  EXPECT_FALSE(o.Validate().ok());
}

TEST(StepDeadlineTest, CeilingUntilMeasuredThenFollowsTheLatencyAboveTheFloor) {
  StepDeadline d({.floor = absl::Milliseconds(50), .ceiling = absl::Seconds(10)});
  EXPECT_FALSE(d.measured());
  EXPECT_EQ(d.decode(), absl::Seconds(10));
  EXPECT_EQ(d.per_chunk(64), absl::Seconds(10));
  // Fast steps: the floor.
  for (int i = 0; i < 20; ++i) d.Observe(absl::Milliseconds(2));
  EXPECT_EQ(d.decode(), absl::Milliseconds(50));
  // Slow, steady steps: about twice the latency.
  for (int i = 0; i < 100; ++i) d.Observe(absl::Milliseconds(100));
  EXPECT_GE(d.decode(), absl::Milliseconds(199));
  EXPECT_LE(d.decode(), absl::Milliseconds(230));
  EXPECT_EQ(d.per_chunk(1), d.decode());
  EXPECT_EQ(d.per_chunk(2), d.decode() * 4);
}

TEST(StepDeadlineTest, JitteryLatencyWidensTheDeadline) {
  StepDeadline steady({.floor = absl::Milliseconds(1), .ceiling = absl::Seconds(10)});
  StepDeadline jittery({.floor = absl::Milliseconds(1), .ceiling = absl::Seconds(10)});
  for (int i = 0; i < 100; ++i) {
    steady.Observe(absl::Milliseconds(100));
    jittery.Observe(absl::Milliseconds(i % 2 == 0 ? 40 : 160));
  }
  EXPECT_GT(jittery.decode(), steady.decode());
  EXPECT_LE(jittery.decode(), absl::Milliseconds(400));
  StepDeadline capped({.floor = absl::Milliseconds(1), .ceiling = absl::Milliseconds(150)});
  capped.Observe(absl::Seconds(1));
  EXPECT_EQ(capped.decode(), absl::Milliseconds(150));
}

TEST(StepDeadlineTest, OptionsAreValidatedWithTheResilienceOptions) {
  // The deadline's options are checked where they are configured (ResilienceOptions; the
  // ceiling is the step timeout, checked against the floor by ResilientGenerator::Create).
  ResilienceOptions r;
  EXPECT_TRUE(r.Validate().ok());
  r.deadline.floor = absl::ZeroDuration();
  EXPECT_FALSE(r.Validate().ok());
  r = ResilienceOptions{};
  r.deadline.chunk_factor = 0.5;
  EXPECT_FALSE(r.Validate().ok());
}

}  // namespace
}  // namespace tandem::edge
