#include "cloud/step_scheduler.h"

#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cloud/admission.h"
#include "common/model/layer_runner.h"
#include "common/model/llama_model.h"
#include "gtest/gtest.h"

namespace tandem::cloud {
namespace {

// Waits (bounded) until `scheduler` has `n` steps queued behind the running one.
bool WaitForQueued(const StepScheduler& scheduler, int64_t n) {
  for (int i = 0; i < 10000; ++i) {
    if (scheduler.queued() == n) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return false;
}

// Holds the scheduler's pool with one step (which runs `then` last) until Release(), so
// that later steps queue up behind it.
class PoolBlocker {
 public:
  explicit PoolBlocker(StepScheduler& scheduler, std::function<void(ThreadPool&)> then = {})
      : thread_([this, &scheduler, then = std::move(then)] {
          EXPECT_TRUE(scheduler
                          .Run([&](ThreadPool& pool) {
                            started_.Notify();
                            release_.WaitForNotification();
                            if (then) then(pool);
                          })
                          .ok());
        }) {
    started_.WaitForNotification();
  }
  ~PoolBlocker() { Release(); }

  // Lets the step finish and waits for it.
  void Release() {
    if (!thread_.joinable()) return;
    release_.Notify();
    thread_.join();
  }

 private:
  absl::Notification started_, release_;
  std::thread thread_;
};

TEST(StepSchedulerTest, RunsStepsOneAtATimeInArrivalOrder) {
  StepScheduler scheduler(2);
  std::vector<int> order;  // written only inside steps, which never overlap
  PoolBlocker first(scheduler, [&](ThreadPool& pool) {
    EXPECT_EQ(pool.num_threads(), 2);
    order.push_back(0);
  });
  std::vector<std::thread> waiters;
  for (int i = 1; i <= 4; ++i) {
    waiters.emplace_back(
        [&, i] { EXPECT_TRUE(scheduler.Run([&](ThreadPool&) { order.push_back(i); }).ok()); });
    ASSERT_TRUE(WaitForQueued(scheduler, i));  // arrival order is known
  }
  first.Release();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(scheduler.queued(), 0);
}

TEST(StepSchedulerTest, ShutdownRefusesWaitingAndLaterSteps) {
  StepScheduler scheduler(1);
  bool ran_waiter = false;
  PoolBlocker first(scheduler);
  absl::Status waiter_status;
  std::thread waiter(
      [&] { waiter_status = scheduler.Run([&](ThreadPool&) { ran_waiter = true; }); });
  ASSERT_TRUE(WaitForQueued(scheduler, 1));
  scheduler.Shutdown();
  first.Release();  // the running step still finishes
  waiter.join();
  EXPECT_EQ(waiter_status.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(ran_waiter);
  EXPECT_EQ(scheduler.Run([](ThreadPool&) {}).code(), absl::StatusCode::kUnavailable);
}

// A session's step for the batching tests: its own runner over [split, N), a random
// (finite) hidden-state chunk, and what running it alone gives.
struct TestStep {
  std::unique_ptr<LayerRunner> runner;
  std::vector<float> hidden, want_hidden;
  std::vector<float> logits, want_logits;
  int32_t n = 0;
  LayerJob Job() {
    return {.runner = runner.get(),
            .hidden = absl::MakeSpan(hidden),
            .n = n,
            .pos = runner->num_cached(),
            .logits = absl::MakeSpan(logits)};
  }
};

std::vector<float> RandomRows(int32_t n, int32_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n) * dim);
  for (float& x : v) x = dist(rng);
  return v;
}

// Steps of several sessions with different split layers, some with earlier positions
// cached, each also run alone (Forward + Head) for the expected result.
std::vector<TestStep> MakeSteps(const LlamaModel& model, const std::vector<int32_t>& splits,
                                const std::vector<int32_t>& sizes) {
  const LlamaHparams& hp = model.hparams();
  ThreadPool pool(2);
  std::vector<TestStep> steps(splits.size());
  for (size_t i = 0; i < splits.size(); ++i) {
    TestStep& s = steps[i];
    s.n = sizes[i];
    auto make_runner = [&] {
      auto r = *LayerRunner::Create(model, splits[i], hp.n_layers, 64);
      // A history of i + 1 positions, so the sessions attend over different lengths.
      std::vector<float> past = RandomRows(static_cast<int32_t>(i) + 1, hp.dim, 100 + i);
      EXPECT_TRUE(r->Forward(absl::MakeSpan(past), static_cast<int32_t>(i) + 1, 0, pool).ok());
      return r;
    };
    s.runner = make_runner();
    s.hidden = RandomRows(s.n, hp.dim, 200 + i);
    s.logits.assign(hp.n_vocab, 0.0f);
    auto alone = make_runner();
    s.want_hidden = s.hidden;
    EXPECT_TRUE(alone->Forward(absl::MakeSpan(s.want_hidden), s.n, alone->num_cached(), pool).ok());
    s.want_logits.assign(hp.n_vocab, 0.0f);
    absl::Span<const float> last(s.want_hidden.data() + (s.n - 1) * hp.dim, hp.dim);
    EXPECT_TRUE(Head(model, last, absl::MakeSpan(s.want_logits), pool).ok());
  }
  return steps;
}

// Holds the scheduler's pool until `n` steps are queued, so that they go in one batch.
void SubmitTogether(StepScheduler& scheduler, std::vector<TestStep>& steps,
                    std::vector<StepTiming>& timings) {
  PoolBlocker blocker(scheduler);
  timings.resize(steps.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < steps.size(); ++i) {
    threads.emplace_back([&, i] {
      auto t = scheduler.Submit(steps[i].Job());
      ASSERT_TRUE(t.ok()) << t.status();
      timings[i] = *t;
    });
  }
  EXPECT_TRUE(WaitForQueued(scheduler, static_cast<int64_t>(steps.size())));
  blocker.Release();
  for (auto& t : threads) t.join();
}

// As SubmitTogether, but the steps queue in index order, each job adjusted first.
std::vector<StepTiming> SubmitInOrder(StepScheduler& scheduler, std::vector<TestStep>& steps,
                                      const std::function<void(size_t, LayerJob&)>& adjust) {
  std::vector<StepTiming> timings(steps.size());
  PoolBlocker blocker(scheduler);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < steps.size(); ++i) {
    threads.emplace_back([&, i] {
      LayerJob job = steps[i].Job();
      adjust(i, job);
      auto t = scheduler.Submit(job);
      ASSERT_TRUE(t.ok()) << t.status();
      timings[i] = *t;
    });
    EXPECT_TRUE(WaitForQueued(scheduler, static_cast<int64_t>(i) + 1));  // arrival order
  }
  blocker.Release();
  for (auto& t : threads) t.join();
  return timings;
}

void ExpectAsAlone(const std::vector<TestStep>& steps) {
  for (size_t i = 0; i < steps.size(); ++i) {
    const TestStep& s = steps[i];
    EXPECT_EQ(0, std::memcmp(s.hidden.data(), s.want_hidden.data(), s.hidden.size() * 4))
        << "session " << i;
    EXPECT_EQ(0, std::memcmp(s.logits.data(), s.want_logits.data(), s.logits.size() * 4))
        << "session " << i;
    EXPECT_EQ(s.runner->num_cached(), static_cast<int32_t>(i) + 1 + s.n) << "session " << i;
  }
}

TEST(StepSchedulerTest, BatchesSessionsWithDifferentSplitsAndMatchesEachAlone) {
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok()) << model.status();
  // Decode steps and prompt chunks of sessions split at K = 1, 2, 3, 4.
  std::vector<TestStep> steps = MakeSteps(**model, {1, 3, 2, 1, 4, 2}, {1, 1, 5, 3, 1, 1});
  StepScheduler scheduler({.threads = 2, .max_batch_rows = 64}, SystemClock::Get());
  std::vector<StepTiming> timings;
  SubmitTogether(scheduler, steps, timings);
  ExpectAsAlone(steps);
  for (const StepTiming& t : timings) {
    EXPECT_EQ(t.batch_sessions, 6);  // one batch for all
    EXPECT_EQ(t.batch_rows, 12);
  }
}

TEST(StepSchedulerTest, SlicesLongChunksToTheBatchLimit) {
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok()) << model.status();
  // A 10-position prompt chunk next to two decode steps, at most 4 positions per batch:
  // the prompt runs a slice at a time (chunked prefill) and the decodes are not held up.
  std::vector<TestStep> steps = MakeSteps(**model, {2, 2, 1}, {10, 1, 1});
  StepScheduler scheduler({.threads = 2, .max_batch_rows = 4}, SystemClock::Get());
  std::vector<StepTiming> timings;
  SubmitTogether(scheduler, steps, timings);
  ExpectAsAlone(steps);
  for (const StepTiming& t : timings) EXPECT_LE(t.batch_rows, 4);
  EXPECT_EQ(timings[1].batch_sessions, 3);  // the decodes went in the first batch
  EXPECT_EQ(timings[2].batch_sessions, 3);
}

// Three long prompts of one device and one of another, 8 positions per batch: the second
// device gets half of each batch, so its prompt is done in the second batch instead of
// after all of the first device's (the fourth).
TEST(StepSchedulerTest, PromptPositionsAreSharedFairlyBetweenDevices) {
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<TestStep> steps = MakeSteps(**model, {1, 1, 1, 1}, {8, 8, 8, 8});
  const std::string_view principals[] = {"device-a", "device-a", "device-a", "device-b"};
  StepScheduler scheduler({.threads = 2, .max_batch_rows = 8}, SystemClock::Get());
  const std::vector<StepTiming> timings = SubmitInOrder(
      scheduler, steps, [&](size_t i, LayerJob& job) { job.principal = principals[i]; });
  ExpectAsAlone(steps);
  EXPECT_EQ(timings[3].batch_seq, 2u);  // device-b: 4 + 4 positions in batches 1 and 2
  EXPECT_EQ(timings[0].batch_seq, 2u);  // device-a's first prompt took the other halves
  EXPECT_EQ(timings[1].batch_seq, 3u);
  EXPECT_EQ(timings[2].batch_seq, 4u);
}

// A prompt already past its deadline goes before other prompt work, but not before decode
// steps: with room for one position per batch, the decode step runs in the first batch
// and the prompt takes the batches after it.
TEST(StepSchedulerTest, AnOverduePromptDoesNotHoldBackDecodeSteps) {
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<TestStep> steps = MakeSteps(**model, {1, 1}, {4, 1});
  StepScheduler scheduler({.threads = 2, .max_batch_rows = 1}, SystemClock::Get());
  const std::vector<StepTiming> timings =
      SubmitInOrder(scheduler, steps, [](size_t i, LayerJob& job) {
        if (i == 0) job.token_deadline = absl::Nanoseconds(1);  // overdue at once
      });
  ExpectAsAlone(steps);
  EXPECT_EQ(timings[1].batch_seq, 1u);  // the decode step
  EXPECT_EQ(timings[0].batch_seq, 5u);  // the prompt: batch 1 was full, then 2..5
}

TEST(StepSchedulerTest, AFailingStepDoesNotFailTheOthers) {
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<TestStep> steps = MakeSteps(**model, {1, 2}, {1, 2});
  StepScheduler scheduler({.threads = 2}, SystemClock::Get());
  // Past the cached positions: this one is refused, the other runs.
  LayerJob bad = steps[0].Job();
  bad.pos += 5;
  std::thread t([&] {
    EXPECT_EQ(scheduler.Submit(bad).status().code(), absl::StatusCode::kInvalidArgument);
  });
  auto ok = scheduler.Submit(steps[1].Job());
  t.join();
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(0, std::memcmp(steps[1].logits.data(), steps[1].want_logits.data(),
                           steps[1].logits.size() * 4));
}

// Decode steps of two sessions answered together, the next steps sent at different times.
struct GatherRun {
  StepTiming early, late;  // the next step sent at once, and 50 ms later
  absl::Duration early_took;
};

GatherRun RunNextStepsApart(const LlamaModel& model, absl::Duration gather_window,
                            bool late_comes_back) {
  std::vector<TestStep> steps = MakeSteps(model, {1, 1}, {1, 1});
  StepScheduler scheduler({.threads = 2, .gather_window = gather_window}, SystemClock::Get());
  std::vector<StepTiming> first;
  SubmitTogether(scheduler, steps, first);  // both answered by one batch
  EXPECT_EQ(first[0].batch_sessions, 2);
  for (TestStep& s : steps) s.hidden = RandomRows(1, model.hparams().dim, 300);
  GatherRun run;
  std::thread late([&] {
    if (!late_comes_back) return;
    absl::SleepFor(absl::Milliseconds(50));
    auto t = scheduler.Submit(steps[1].Job());
    ASSERT_TRUE(t.ok()) << t.status();
    run.late = *t;
  });
  const absl::Time start = absl::Now();
  auto t = scheduler.Submit(steps[0].Job());
  run.early_took = absl::Now() - start;
  EXPECT_TRUE(t.ok()) << t.status();
  if (t.ok()) run.early = *t;
  late.join();
  return run;
}

// A session answered by a batch sends its next step a network turn later; the batch waits
// for it (within the window) instead of leaving it for the next one.
TEST(StepSchedulerTest, WaitsForTheSessionsItJustAnswered) {
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok()) << model.status();
  const GatherRun gathered = RunNextStepsApart(**model, absl::Seconds(5), true);
  EXPECT_EQ(gathered.early.batch_sessions, 2);
  EXPECT_EQ(gathered.late.batch_sessions, 2);
  EXPECT_EQ(gathered.early.batch_seq, gathered.late.batch_seq);
  EXPECT_GE(gathered.early_took, absl::Milliseconds(50));
  // Without a window each step runs as soon as the pool is free: alone.
  const GatherRun ungathered = RunNextStepsApart(**model, absl::ZeroDuration(), true);
  EXPECT_EQ(ungathered.early.batch_sessions, 1);
  EXPECT_EQ(ungathered.late.batch_sessions, 1);
}

// A session that does not come back (closed, idle) holds the others up for one window only.
TEST(StepSchedulerTest, WaitsForASilentSessionOneWindowOnly) {
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok()) << model.status();
  const GatherRun run = RunNextStepsApart(**model, absl::Milliseconds(200), false);
  EXPECT_EQ(run.early.batch_sessions, 1);
  EXPECT_GE(run.early_took, absl::Milliseconds(150));  // the window, minus the first batch
}

TEST(StepCostModelTest, PredictsFromWhatItSaw) {
  StepCostModel cost;
  EXPECT_FALSE(cost.Predict(4).has_value());
  cost.Observe(2, absl::Milliseconds(10));
  EXPECT_EQ(*cost.Predict(8), absl::Milliseconds(10));  // one size seen: its mean
  cost.Observe(4, absl::Milliseconds(14));
  EXPECT_EQ(*cost.Predict(4), absl::Milliseconds(14));
  // The line through (2, 10 ms) and (4, 14 ms): 2 ms per position from a 6 ms base.
  EXPECT_NEAR(absl::ToDoubleMilliseconds(*cost.Predict(8)), 22.0, 1e-6);
}

TEST(AdmissionTest, RefusesWhenOneMoreSessionWouldBreakATarget) {
  StepCostModel cost;
  const absl::Duration none = absl::InfiniteDuration();
  // Nothing measured yet, or no target: admitted.
  EXPECT_TRUE(CheckDeadlineAdmission(cost, {}, absl::Milliseconds(1)).ok());
  cost.Observe(1, absl::Milliseconds(20));
  cost.Observe(3, absl::Milliseconds(24));  // 2 ms per position
  EXPECT_TRUE(CheckDeadlineAdmission(cost, {none, none}, none).ok());
  // Three sessions: batches of 3 take 24 ms, a token up to 48 ms, which must fit in 80% of
  // the target (the rest is the network's).
  EXPECT_EQ(BatchPairBudget(absl::Milliseconds(60)), absl::Milliseconds(48));
  EXPECT_TRUE(CheckDeadlineAdmission(cost, {none, absl::Milliseconds(60)}, none).ok());
  absl::Status refused = CheckDeadlineAdmission(cost, {none, absl::Milliseconds(59)}, none);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.GetPayload(kAdmissionRefusalUrl), absl::Cord("deadline"));
  // The new session's own target counts too.
  EXPECT_FALSE(CheckDeadlineAdmission(cost, {none, none}, absl::Milliseconds(40)).ok());
  // Alone, a session's step waits for no other batch: one batch time (20 ms) must fit.
  EXPECT_TRUE(CheckDeadlineAdmission(cost, {}, absl::Milliseconds(25)).ok());
  EXPECT_FALSE(CheckDeadlineAdmission(cost, {}, absl::Milliseconds(24)).ok());
}

}  // namespace
}  // namespace tandem::cloud
