#include "cloud/step_scheduler.h"

namespace tandem::cloud {

absl::Status StepScheduler::Run(absl::FunctionRef<void(ThreadPool&)> fn) {
  uint64_t ticket;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::UnavailableError("the worker is shutting down");
    ticket = next_ticket_++;
    auto my_turn = [this, ticket]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return serving_ == ticket; };
    mu_.Await(absl::Condition(&my_turn));
    if (shutdown_) {
      ++serving_;
      return absl::UnavailableError("the worker is shutting down");
    }
  }
  // Only the holder of the served ticket gets here: the pool has one user at a time.
  fn(pool_);
  absl::MutexLock lock(&mu_);
  ++serving_;
  return absl::OkStatus();
}

void StepScheduler::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

int64_t StepScheduler::queued() const {
  absl::MutexLock lock(&mu_);
  const uint64_t waiting = next_ticket_ - serving_;
  return waiting == 0 ? 0 : static_cast<int64_t>(waiting) - 1;
}

}  // namespace tandem::cloud
