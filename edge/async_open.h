// One attempt to open (or resume) a session on a cloud worker, run on its own thread so
// that the generation goes on (on the fallback model) while the attempt waits for a worker
// that may be unreachable until the attempt's deadline.
#pragma once

#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/util/clock.h"
#include "edge/cloud_link.h"

namespace tandem::edge {

class AsyncOpen {
 public:
  // Starts link.Open(hello, deadline). `link` must outlive this object.
  AsyncOpen(CloudLink& link, SessionHello hello, absl::Time deadline, int32_t endpoint);
  // Waits for the attempt (at most until its deadline); a stream nobody took is cancelled,
  // which leaves its session on the worker for the idle timeout.
  ~AsyncOpen();
  AsyncOpen(const AsyncOpen&) = delete;
  AsyncOpen& operator=(const AsyncOpen&) = delete;

  bool done() const { return done_.HasBeenNotified(); }
  // Whether the attempt has finished by `clock`'s now (a test clock may let it finish).
  bool Finished(const Clock& clock) const {
    return clock.WaitForNotificationWithDeadline(done_, clock.Now());
  }
  // The attempt's result; call once, after done() or Finished().
  absl::StatusOr<std::unique_ptr<CloudStream>> Take();

  const SessionHello& hello() const { return hello_; }
  int32_t endpoint() const { return endpoint_; }

 private:
  const SessionHello hello_;
  const int32_t endpoint_;
  absl::StatusOr<std::unique_ptr<CloudStream>> result_;  // written by the thread before done_
  absl::Notification done_;
  std::thread thread_;
};

}  // namespace tandem::edge
