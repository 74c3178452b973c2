// Time behind an interface (the worker's idle timeouts, the edge's deadlines, backoff
// sleeps and latency metrics), so that tests can drive time instead of sleeping. Every
// wait with a deadline goes through the clock that made the deadline: a deadline read
// from one clock and awaited on another would mix two times.
#pragma once

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tandem {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Returns once Now() >= `until` (at once if it already is).
  virtual void SleepUntil(absl::Time until) const = 0;
  // With `mu` held: waits (releasing `mu`) until `condition` holds or Now() >= `deadline`;
  // returns whether it holds.
  virtual bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                                 absl::Time deadline) const = 0;
  // Waits until `notification` is notified or Now() >= `deadline`; returns whether it was.
  virtual bool WaitForNotificationWithDeadline(const absl::Notification& notification,
                                               absl::Time deadline) const = 0;
};

// Wall time: absl::Now(), absl's sleeps and waits.
class SystemClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  void SleepUntil(absl::Time until) const override { absl::SleepFor(until - absl::Now()); }
  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                         absl::Time deadline) const override {
    return mu.AwaitWithDeadline(condition, deadline);
  }
  bool WaitForNotificationWithDeadline(const absl::Notification& notification,
                                       absl::Time deadline) const override {
    return notification.WaitForNotificationWithDeadline(deadline);
  }

  // One process-wide instance, for defaults.
  static const SystemClock& Get() {
    static const SystemClock clock;
    return clock;
  }
};

}  // namespace tandem
