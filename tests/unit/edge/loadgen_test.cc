// tandem-loadgen's load against a real in-process worker on the embedded model: every
// admitted session gets its tokens, refusals are counted as such, and the report names the
// slowest decode steps (slowest first, with when they started).
#include "edge/loadgen.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/in_process_cloud_link.h"

namespace tandem::edge {
namespace {

using ::tandem::testing_util::InProcessCloudLink;
using ::testing::HasSubstr;

std::unique_ptr<EdgeModel> LoadEdge() {
  auto edge = EdgeModel::Load(TANDEM_TEST_MODEL, 2);
  EXPECT_TRUE(edge.ok()) << edge.status();
  return std::move(*edge);
}

TEST(LoadgenTest, EveryAdmittedSessionGetsItsTokensAndTheSlowestStepsAreListed) {
  auto edge = LoadEdge();
  InProcessCloudLink link;
  auto result = RunLoad(*edge, link, {.sessions = 3, .prompt_tokens = 5, .gen_tokens = 7});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->admitted, 3);
  EXPECT_EQ(result->refused, 0);
  EXPECT_EQ(result->failed, 0) << result->first_error;
  EXPECT_EQ(result->tokens, 3 * 7);
  // 3 sessions x 6 decode steps; the 5 slowest, slowest first, inside the load's time.
  ASSERT_EQ(result->slowest.size(), 5u);
  for (size_t i = 0; i < result->slowest.size(); ++i) {
    const LoadgenResult::SlowStep& s = result->slowest[i];
    EXPECT_GE(s.session, 0);
    EXPECT_LT(s.session, 3);
    EXPECT_GE(s.step, 0);
    EXPECT_LT(s.step, 6);
    EXPECT_GE(s.started_ms, 0);
    EXPECT_LE(s.started_ms + s.ms, result->seconds * 1000 + 1);
    if (i > 0) {
      EXPECT_GE(result->slowest[i - 1].ms, s.ms);
    }
  }
  EXPECT_GE(result->slowest[0].ms, result->p99_step_ms);
  EXPECT_THAT(result->ToJson(), HasSubstr("\"slowest_steps\": [{\"session\": "));
}

TEST(LoadgenTest, RefusedSessionsAreCountedNotFailed) {
  auto edge = LoadEdge();
  cloud::WorkerLimits limits;
  limits.max_sessions = 1;
  InProcessCloudLink link({.limits = limits});  // one slot, held for 300 tokens
  auto result = RunLoad(*edge, link, {.sessions = 3, .prompt_tokens = 4, .gen_tokens = 300});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->admitted + result->refused, 3);
  EXPECT_GE(result->refused, 1);
  EXPECT_EQ(result->failed, 0) << result->first_error;
  EXPECT_EQ(result->tokens, result->admitted * 300);
}

}  // namespace
}  // namespace tandem::edge
