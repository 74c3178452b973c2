// A clock tests drive by hand (Advance), for the worker's and the edge's tests.
//
// Its time moves only when a test advances it or a sleeper sleeps on it (SleepUntil moves
// it to the sleeper's wake-up time). While it stands still, work that does not wait on it
// (another thread computing, an in-process worker answering) runs to completion first: a
// wait whose deadline has come gives such work up to kSettle of real time before it gives
// up. So a background reconnect attempt against an in-process worker is instantaneous,
// and where a generation switches back is deterministic.
#pragma once

#include <algorithm>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/util/clock.h"

namespace tandem::cloud {

class FakeClock final : public Clock {
 public:
  static constexpr absl::Duration kSettle = absl::Seconds(5);

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void SleepUntil(absl::Time until) const override {
    absl::MutexLock lock(&mu_);
    now_ = std::max(now_, until);
  }
  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                         absl::Time deadline) const override {
    const absl::Time settle_until = absl::Now() + kSettle;
    while (true) {
      if (mu.AwaitWithTimeout(condition, absl::Milliseconds(1))) return true;
      if (Now() >= deadline && absl::Now() >= settle_until) return false;
    }
  }
  bool WaitForNotificationWithDeadline(const absl::Notification& notification,
                                       absl::Time deadline) const override {
    const absl::Time settle_until = absl::Now() + kSettle;
    while (true) {
      if (notification.WaitForNotificationWithTimeout(absl::Milliseconds(1))) return true;
      if (Now() >= deadline && absl::Now() >= settle_until) return false;
    }
  }

 private:
  mutable absl::Mutex mu_;
  mutable absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1'700'000'000);
};

}  // namespace tandem::cloud

namespace tandem::cloud {

// Wall time, except that a wait whose deadline has already come still lets the work it
// waits for finish (up to FakeClock::kSettle): background work against an in-process
// worker (a reconnect attempt) then counts as instantaneous, so tests that run in real
// time still see deterministic switch points.
class SettlingClock final : public SystemClock {
 public:
  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                         absl::Time deadline) const override {
    return SystemClock::AwaitWithDeadline(mu, condition, Settled(deadline));
  }
  bool WaitForNotificationWithDeadline(const absl::Notification& notification,
                                       absl::Time deadline) const override {
    return SystemClock::WaitForNotificationWithDeadline(notification, Settled(deadline));
  }

 private:
  static absl::Time Settled(absl::Time deadline) {
    const absl::Time now = absl::Now();
    return deadline <= now ? now + FakeClock::kSettle : deadline;
  }
};

}  // namespace tandem::cloud
