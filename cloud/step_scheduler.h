// Runs the compute of session steps one at a time on the worker's single ThreadPool
// (ThreadPool::Run is not reentrant), in arrival order.
//
// Fairness: a ticket lock. Each step takes the next ticket and runs when its ticket is
// served, so steps run in strict FIFO order. A session has at most one step in flight
// (its steps are serialized by the session), so with many sessions the pool goes round
// robin between them: a long prompt chunk of one session delays the others by at most
// one step, and no session can starve another. Parallelism is inside a step (the pool's
// threads split each matmul), which is what a 2-8 core worker can afford.
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/util/thread_pool.h"

namespace tandem::cloud {

class StepScheduler {
 public:
  explicit StepScheduler(int threads) : pool_(threads) {}
  StepScheduler(const StepScheduler&) = delete;
  StepScheduler& operator=(const StepScheduler&) = delete;

  // Waits for this step's turn, then runs fn(pool) on the calling thread (which takes
  // part in the pool's work). Unavailable, without running fn, once Shutdown() was called.
  absl::Status Run(absl::FunctionRef<void(ThreadPool&)> fn);

  // Steps already running finish; steps waiting or arriving later are refused.
  void Shutdown();

  int threads() const { return pool_.num_threads(); }
  // Steps waiting for their turn (not counting the one running).
  int64_t queued() const;

 private:
  ThreadPool pool_;
  mutable absl::Mutex mu_;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t serving_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tandem::cloud
