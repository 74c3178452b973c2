// Shares the worker's one compute pool between sessions by continuous batching.
//
// Each session submits its step (a chunk of positions for its layers [K, N), maybe with
// logits to compute) and blocks until it is done. Whenever the pool is free, one waiting
// thread becomes the leader: it takes the pending work of all sessions — decode steps and
// slices of prompt chunks (chunked prefill: a long prompt is run a slice at a time, so it
// cannot stall the others' decode) — runs the layers once for the whole batch with the
// matrix-matrix kernels (LayerRunner::ForwardBatch; sessions with different K join at
// their first layer), computes the logits of the finished steps in one head pass, and
// hands the leadership on. The kernels are batch invariant, so a session's results are
// bit-identical however it was batched.
//
// Order: decode steps first, then prompt work past its deadline, then the other prompt
// slices; each group earliest deadline first (an overdue prompt never pushes a decode step
// out of a batch). A step's deadline is its arrival plus its session's per-token
// target (or `default_deadline`), so old work rises to the front and nothing starves.
// Size: at most `max_batch_rows` positions, and with per-token targets declared, few
// enough prompt positions that two such batches (by the learned cost model) fit in
// BatchPairBudget of the tightest target; decode steps always go in.
// Fair share between devices: the prompt positions a batch has room for are shared
// equally between the principals with prompt work waiting (what one leaves unused goes
// to the others), so one device's many or long prompts cannot hold another's back.
//
// Gathering: a session answered by a batch sends its next step a network turn later (the
// edge samples nothing, it only runs its layers and sends). A leader that started a batch
// at once would catch only the steps that happen to be queued, and the sessions would
// settle into out-of-phase halves, each waiting for the other's batch. So before taking a
// batch the leader waits, up to `gather_window` after each was answered, for the sessions
// answered by the last batches to come back (in real time, whatever the clock: it is a
// scheduling pause, not a timeout). A session that does not come back in time (closed,
// idle, far away) is not waited for again until its next step.
//
// Exclusive work (Run: the layer profiler) runs alone, in arrival order with the rest.
#pragma once

#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cloud/messages.h"
#include "cloud/step_cost_model.h"
#include "common/model/layer_runner.h"
#include "common/util/clock.h"
#include "common/util/thread_pool.h"

namespace tandem::cloud {

// One session step: positions [pos, pos + n) through `runner`'s layers.
struct LayerJob {
  LayerRunner* runner = nullptr;
  absl::Span<float> hidden;  // [n, dim], updated in place
  int32_t n = 0;
  int32_t pos = 0;
  // Not empty: the logits of the last r positions, [r, n_vocab] (r = 1 but for speculative
  // verification, which samples after each draft position; r <= n).
  absl::Span<float> logits;
  absl::Duration token_deadline = absl::InfiniteDuration();  // the session's target
  std::string_view principal;  // the device the session belongs to (fair share)
};

struct SchedulerOptions {
  int32_t threads = 2;
  int32_t max_batch_rows = 64;  // positions per batch (chunked prefill slices to fit)
  absl::Duration default_deadline = absl::Seconds(1);  // for steps without a target
  // How long after answering a session a batch may wait for its next step (0: never).
  absl::Duration gather_window = absl::Milliseconds(2);
};

class StepScheduler {
 public:
  StepScheduler(const SchedulerOptions& options, const Clock& clock);
  // Kept for callers that only need a pool (tests, the profiler): default options.
  explicit StepScheduler(int threads);
  StepScheduler(const StepScheduler&) = delete;
  StepScheduler& operator=(const StepScheduler&) = delete;

  // Runs the step in some batch and returns when it is done. The job's runner must not
  // be in another submitted job (a session's steps are serialized by the session).
  // Unavailable once Shutdown() was called; a failed step leaves the runner's cache
  // truncated to job.pos.
  absl::StatusOr<StepTiming> Submit(const LayerJob& job);

  // Waits for its turn, then runs fn(pool) alone on the calling thread (which takes part
  // in the pool's work). Unavailable, without running fn, once Shutdown() was called.
  absl::Status Run(absl::FunctionRef<void(ThreadPool&)> fn);

  // Runs `jobs` together as one batch, alone (after the work already waiting), as Submit
  // would if they arrived at once; the cost model learns from it. For the startup
  // calibration (step_cost_calibration.h).
  absl::Status RunAsOneBatch(absl::Span<const LayerJob> jobs);
  // Forgets the step costs learned so far.
  void ForgetCosts() { cost_.Clear(); }

  // Steps already running finish; steps waiting or arriving later are refused.
  void Shutdown();

  int threads() const { return pool_.num_threads(); }
  const SchedulerOptions& options() const { return options_; }
  // Steps waiting for a batch (not counting the batch running).
  int64_t queued() const;
  // Step time by batch size, learned from the batches run (for admission).
  const StepCostModel& cost_model() const { return cost_; }

 private:
  struct Pending;
  // Queues p, then waits until it is done, leading batches whenever the pool is free.
  void WaitOrLeadLocked(Pending& p, absl::Duration target) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits (releasing mu_) until the sessions in returning_ have submitted again or their
  // gather windows have passed, unless the pending work already fills a batch.
  void GatherLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Picks the next batch from pending_ (deadline order, row budget) and marks the slices.
  std::vector<Pending*> TakeBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs one batch of layer-job slices and the head of the finished ones (no lock held).
  void RunBatch(absl::Span<Pending* const> batch);

  const SchedulerOptions options_;
  const Clock& clock_;
  ThreadPool pool_;
  ForwardScratch scratch_;        // used by the leader only
  std::vector<float> head_rows_;  // likewise: [m, dim] last positions, [m, n_vocab] logits
  std::vector<float> head_logits_;
  StepCostModel cost_;
  uint64_t batches_run_ = 0;  // by the leader only

  mutable absl::Mutex mu_;
  std::vector<Pending*> pending_ ABSL_GUARDED_BY(mu_);  // arrival order
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool running_ ABSL_GUARDED_BY(mu_) = false;  // a leader holds the pool
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // Sessions (by runner; never dereferenced) answered by a batch and not back yet, with the
  // real time each was answered.
  std::map<const LayerRunner*, absl::Time> returning_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::cloud
