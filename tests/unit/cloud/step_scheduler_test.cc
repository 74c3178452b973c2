#include "cloud/step_scheduler.h"

#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
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

TEST(StepSchedulerTest, RunsStepsOneAtATimeInArrivalOrder) {
  StepScheduler scheduler(2);
  absl::Notification started, release;
  std::vector<int> order;  // written only inside steps, which never overlap
  std::thread first([&] {
    EXPECT_TRUE(scheduler
                    .Run([&](ThreadPool& pool) {
                      EXPECT_EQ(pool.num_threads(), 2);
                      started.Notify();
                      release.WaitForNotification();
                      order.push_back(0);
                    })
                    .ok());
  });
  started.WaitForNotification();
  std::vector<std::thread> waiters;
  for (int i = 1; i <= 4; ++i) {
    waiters.emplace_back(
        [&, i] { EXPECT_TRUE(scheduler.Run([&](ThreadPool&) { order.push_back(i); }).ok()); });
    ASSERT_TRUE(WaitForQueued(scheduler, i));  // arrival order is known
  }
  release.Notify();
  first.join();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(scheduler.queued(), 0);
}

TEST(StepSchedulerTest, ShutdownRefusesWaitingAndLaterSteps) {
  StepScheduler scheduler(1);
  absl::Notification started, release;
  bool ran_waiter = false;
  std::thread first([&] {
    EXPECT_TRUE(scheduler
                    .Run([&](ThreadPool&) {
                      started.Notify();
                      release.WaitForNotification();
                    })
                    .ok());
  });
  started.WaitForNotification();
  absl::Status waiter_status;
  std::thread waiter(
      [&] { waiter_status = scheduler.Run([&](ThreadPool&) { ran_waiter = true; }); });
  ASSERT_TRUE(WaitForQueued(scheduler, 1));
  scheduler.Shutdown();
  release.Notify();  // the running step still finishes
  first.join();
  waiter.join();
  EXPECT_EQ(waiter_status.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(ran_waiter);
  EXPECT_EQ(scheduler.Run([](ThreadPool&) {}).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tandem::cloud
