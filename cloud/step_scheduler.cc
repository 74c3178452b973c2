#include "cloud/step_scheduler.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string_view>

#include "common/util/status_macros.h"

namespace tandem::cloud {
namespace {

const SystemClock& DefaultClock() {
  static const SystemClock* clock = new SystemClock;
  return *clock;
}

}  // namespace

// A submitted step (or exclusive function) while it waits and runs.
struct StepScheduler::Pending {
  const LayerJob* job = nullptr;                              // layer work, or
  absl::FunctionRef<void(ThreadPool&)>* exclusive = nullptr;  // run alone
  uint64_t seq = 0;
  absl::Duration target = absl::InfiniteDuration();  // the session's per-token target
  absl::Time arrival;
  absl::Time deadline;
  int32_t done = 0;   // positions already run
  int32_t slice = 0;  // positions in the batch being run
  bool started = false;
  bool in_batch = false;  // taken by the running batch
  bool finished = false;
  absl::Status status;
  StepTiming timing;
};

StepScheduler::StepScheduler(const SchedulerOptions& options, const Clock& clock)
    : options_(options), clock_(clock), pool_(options.threads) {}

StepScheduler::StepScheduler(int threads)
    : StepScheduler(SchedulerOptions{.threads = threads}, DefaultClock()) {}

absl::StatusOr<StepTiming> StepScheduler::Submit(const LayerJob& job) {
  Pending p{.job = &job};
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::UnavailableError("the worker is shutting down");
  const absl::Duration target = job.token_deadline == absl::InfiniteDuration()
                                    ? options_.default_deadline
                                    : job.token_deadline;
  p.target = job.token_deadline;
  returning_.erase(job.runner);
  WaitOrLeadLocked(p, target);
  if (!p.status.ok()) return p.status;
  return p.timing;
}

absl::Status StepScheduler::Run(absl::FunctionRef<void(ThreadPool&)> fn) {
  Pending p{.exclusive = &fn};
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::UnavailableError("the worker is shutting down");
  WaitOrLeadLocked(p, absl::InfiniteDuration());
  return p.status;
}

absl::Status StepScheduler::RunAsOneBatch(absl::Span<const LayerJob> jobs) {
  std::vector<Pending> items(jobs.size());
  std::vector<Pending*> batch;
  for (size_t i = 0; i < jobs.size(); ++i) {
    items[i].job = &jobs[i];
    items[i].slice = jobs[i].n;
    batch.push_back(&items[i]);
  }
  RETURN_IF_ERROR(Run([&](ThreadPool&) { RunBatch(batch); }));
  for (const Pending& p : items) RETURN_IF_ERROR(p.status);
  return absl::OkStatus();
}

void StepScheduler::WaitOrLeadLocked(Pending& p, absl::Duration target) {
  p.seq = next_seq_++;
  p.arrival = clock_.Now();
  p.deadline = p.arrival + target;
  pending_.push_back(&p);
  while (true) {
    auto ready = [&p, this]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return p.finished || !running_; };
    mu_.Await(absl::Condition(&ready));
    if (p.finished) return;
    if (shutdown_) {  // refuse everything still waiting, this step included
      for (Pending* q : pending_) {
        q->finished = true;
        q->status = absl::UnavailableError("the worker is shutting down");
      }
      pending_.clear();
      return;
    }
    // The pool is free: lead one batch (which may or may not include this step).
    running_ = true;
    GatherLocked();
    std::vector<Pending*> batch = TakeBatchLocked();
    mu_.Unlock();
    if (batch.size() == 1 && batch[0]->exclusive != nullptr) {
      (*batch[0]->exclusive)(pool_);
    } else {
      RunBatch(batch);
    }
    mu_.Lock();
    const absl::Time now = clock_.Now();
    for (Pending* q : batch) {
      q->in_batch = false;
      const bool complete = q->exclusive != nullptr || !q->status.ok() || q->done == q->job->n;
      if (!complete) continue;
      q->finished = true;
      // A miss: a token was due by the session's own target and came later.
      q->timing.deadline_missed = q->job != nullptr && !q->job->logits.empty() &&
                                  q->job->token_deadline != absl::InfiniteDuration() &&
                                  now > q->deadline;
      pending_.erase(std::find(pending_.begin(), pending_.end(), q));
      // A token went back: the session's next step is one network turn away.
      if (q->status.ok() && q->job != nullptr && !q->job->logits.empty()) {
        returning_[q->job->runner] = absl::Now();
      }
    }
    running_ = false;
  }
}

void StepScheduler::GatherLocked() {
  if (options_.gather_window <= absl::ZeroDuration()) return;
  while (!returning_.empty() && !shutdown_) {
    int64_t rows = 0;
    for (const Pending* q : pending_) {
      if (q->exclusive != nullptr) return;  // runs alone anyway
      rows += q->job->n - q->done;
    }
    if (rows >= options_.max_batch_rows) return;
    const absl::Time now = absl::Now();
    absl::Time until = absl::InfinitePast();
    for (auto it = returning_.begin(); it != returning_.end();) {
      const absl::Time expires = it->second + options_.gather_window;
      if (expires <= now) {
        it = returning_.erase(it);
      } else {
        until = std::max(until, expires);
        ++it;
      }
    }
    if (returning_.empty()) return;
    const size_t waiting_for = returning_.size();
    auto changed = [this, waiting_for]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return returning_.size() != waiting_for || shutdown_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&changed), until);
  }
}

std::vector<StepScheduler::Pending*> StepScheduler::TakeBatchLocked() {
  // Exclusive work runs alone when it is the oldest waiting.
  if (!pending_.empty() && pending_.front()->exclusive != nullptr) {
    pending_.front()->in_batch = true;
    return {pending_.front()};
  }
  std::vector<Pending*> order;
  for (Pending* q : pending_) {
    if (q->exclusive == nullptr) order.push_back(q);
  }
  std::stable_sort(order.begin(), order.end(), [](const Pending* a, const Pending* b) {
    return a->deadline != b->deadline ? a->deadline < b->deadline : a->seq < b->seq;
  });
  // Size: at most max_batch_rows positions, and if sessions declared per-token targets,
  // few enough that two such batches (by the cost model) fit in the budget of the tightest
  // one (a step may wait for the running batch, then runs in the next). Decode steps
  // always fit; prompt slices shrink.
  int32_t decodes = 0;
  absl::Duration tightest = absl::InfiniteDuration();
  for (const Pending* q : order) {
    if (q->job->n - q->done == 1) ++decodes;
    tightest = std::min(tightest, q->target);
  }
  int32_t budget = std::max(options_.max_batch_rows, 1);
  if (tightest != absl::InfiniteDuration()) {
    while (budget > std::max(decodes, 1)) {
      const std::optional<absl::Duration> t = cost_.Predict(budget);
      if (!t.has_value() || 2 * *t <= BatchPairBudget(tightest)) break;
      budget = std::max(budget / 2, std::max(decodes, 1));
    }
  }
  budget = std::max(budget, decodes);
  // Decode steps first (the budget holds them all), then prompt work already past its
  // deadline, then the other prompt slices; each group in deadline order.
  const absl::Time now = clock_.Now();
  const auto overdue = std::stable_partition(
      order.begin(), order.end(), [](const Pending* q) { return q->job->n - q->done == 1; });
  const auto prompts = std::stable_partition(
      overdue, order.end(), [now](const Pending* q) { return q->deadline <= now; });
  std::vector<Pending*> batch;
  auto add = [&](Pending* q, int32_t rows) {
    rows = std::min({rows, budget, q->job->n - q->done - (q->in_batch ? q->slice : 0)});
    if (rows <= 0) return;
    if (!q->in_batch) {
      q->in_batch = true;
      q->slice = 0;
      if (!q->started) {
        q->started = true;
        q->timing.queue_wait = now - q->arrival;
      }
      batch.push_back(q);
    }
    q->slice += rows;
    budget -= rows;
  };
  for (auto it = order.begin(); it != prompts; ++it) add(*it, budget);
  // Prompt slices: first each principal up to an equal share, then the rest in order.
  std::map<std::string_view, int32_t> taken;
  for (auto it = prompts; it != order.end(); ++it) taken[(*it)->job->principal] = 0;
  if (!taken.empty()) {
    const int32_t share =
        (budget + static_cast<int32_t>(taken.size()) - 1) / static_cast<int32_t>(taken.size());
    for (auto it = prompts; it != order.end(); ++it) {
      int32_t& used = taken[(*it)->job->principal];
      const int32_t before = budget;
      add(*it, share - used);
      used += before - budget;
    }
    for (auto it = prompts; it != order.end(); ++it) add(*it, budget);
  }
  return batch;
}

void StepScheduler::RunBatch(absl::Span<Pending* const> batch) {
  const absl::Time start = clock_.Now();
  std::vector<SequenceChunk> chunks;
  int32_t rows = 0;
  for (const Pending* q : batch) {
    const LayerJob& job = *q->job;
    const size_t dim = job.hidden.size() / job.n;
    chunks.push_back({.runner = job.runner,
                      .hidden = job.hidden.subspan(q->done * dim, q->slice * dim),
                      .n = q->slice,
                      .pos = job.pos + q->done});
    rows += q->slice;
  }
  absl::Status status = LayerRunner::ForwardBatch(chunks, scratch_, pool_);
  if (!status.ok()) {
    // Only a bad step fails validation (sessions validate chunks first): run each alone
    // so that the others go on and the failure lands on its own step.
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i]->status = LayerRunner::ForwardBatch({&chunks[i], 1}, scratch_, pool_);
    }
  }
  for (Pending* q : batch) {
    if (!q->status.ok()) {
      q->job->runner->Truncate(q->job->pos);
    } else {
      q->done += q->slice;
    }
  }

  // Logits of the finished steps that want them, in one head pass: [m, dim] -> [m, vocab]
  // (the kernels are batch invariant, so a row's logits do not depend on the others).
  std::vector<Pending*> heads;
  for (Pending* q : batch) {
    if (q->status.ok() && q->done == q->job->n && !q->job->logits.empty()) heads.push_back(q);
  }
  if (!heads.empty()) {
    const LlamaModel& model = heads[0]->job->runner->model();
    const size_t dim = model.hparams().dim, vocab = model.hparams().n_vocab;
    size_t m = 0;
    for (Pending* q : heads) m += q->job->logits.size() / vocab;
    head_rows_.resize(m * dim);
    head_logits_.resize(m * vocab);
    size_t row = 0;
    for (Pending* q : heads) {
      const LayerJob& job = *q->job;
      const size_t r = job.logits.size() / vocab;  // the job's last r positions
      std::memcpy(head_rows_.data() + row * dim, job.hidden.data() + (job.n - r) * dim,
                  r * dim * sizeof(float));
      row += r;
    }
    absl::Status head = Head(model, head_rows_, absl::MakeSpan(head_logits_), pool_);
    row = 0;
    for (Pending* q : heads) {
      const LayerJob& job = *q->job;
      const size_t r = job.logits.size() / vocab;
      if (!head.ok()) {
        q->status = head;
        job.runner->Truncate(job.pos);
        continue;
      }
      std::memcpy(job.logits.data(), head_logits_.data() + row * vocab, r * vocab * sizeof(float));
      row += r;
    }
  }
  const absl::Duration took = clock_.Now() - start;
  if (status.ok()) cost_.Observe(rows, took);
  const uint64_t seq = ++batches_run_;
  for (Pending* q : batch) {
    q->timing.batch_rows = rows;
    q->timing.batch_sessions = static_cast<int32_t>(batch.size());
    q->timing.batch_seq = seq;
  }
}

void StepScheduler::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

int64_t StepScheduler::queued() const {
  absl::MutexLock lock(&mu_);
  return std::count_if(pending_.begin(), pending_.end(),
                       [](const Pending* q) { return !q->in_batch; });
}

}  // namespace tandem::cloud
