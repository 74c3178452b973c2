// Frees the memory of sessions whose edge went away: calls Worker::EvictIdle on a
// period (Open also evicts, but an idle worker would otherwise keep them forever).
#pragma once

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cloud/worker.h"

namespace tandem::cloud {

class IdleReaper {
 public:
  IdleReaper(Worker& worker, absl::Duration period)
      : thread_([this, &worker, period] {
          while (!stop_.WaitForNotificationWithTimeout(period)) worker.EvictIdle();
        }) {}
  ~IdleReaper() {
    stop_.Notify();
    thread_.join();
  }
  IdleReaper(const IdleReaper&) = delete;
  IdleReaper& operator=(const IdleReaper&) = delete;

 private:
  absl::Notification stop_;
  std::thread thread_;  // last: starts after stop_ exists
};

}  // namespace tandem::cloud
