// A fixed-size pool of worker threads for data-parallel kernels (fork-join).
// The calling thread takes part in the work, so ThreadPool(1) runs everything inline.
#pragma once

#include <functional>
#include <memory>

namespace tandem {

class ThreadPool {
 public:
  // `num_threads` >= 1 counts the calling thread.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Runs fn(thread_index, num_threads) on every thread (the caller is index 0) and
  // returns when all have finished. Not reentrant: one Run at a time per pool.
  void Run(const std::function<void(int thread_index, int num_threads)>& fn);

  // Splits [0, n) into contiguous chunks (multiples of `grain`) and runs
  // fn(begin, end) for each chunk; a deterministic partition for a given n and pool size.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  struct Impl;
  int num_threads_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem
