// A fixed-size pool of worker threads for data-parallel kernels (fork-join).
// The calling thread takes part in the work, so ThreadPool(1) runs everything inline.
//
// Decode dispatches a few hundred jobs per token, so a dispatch costs a few microseconds:
// idle workers poll a generation counter for a short while before sleeping on a futex,
// so a quiet pool does not burn CPU.
//
// ParallelFor is elastic: its chunks are claimed from a shared counter, and the caller
// only waits for workers that actually started. On a busy machine a descheduled worker
// therefore never stalls the caller; it just does less of the work.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace tandem {

class ThreadPool {
 public:
  // `num_threads` >= 1 counts the calling thread (values < 1 are treated as 1).
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Workers that gave up polling and sleep (or are about to) until the next job: for
  // tests and diagnostics.
  int sleeping_workers() const;

  // Runs fn(thread_index, num_threads) on every thread (the caller is index 0) and
  // returns when all have finished. Not reentrant: one job at a time per pool.
  void Run(const std::function<void(int thread_index, int num_threads)>& fn);

  // Splits [0, n) into contiguous chunks whose boundaries are multiples of `grain` (a
  // deterministic split for a given n, grain and pool size) and runs fn(begin, end) once
  // per chunk, on whichever thread claims it. Returns when every chunk is done. Use it
  // when the result of a chunk does not depend on the thread that computes it.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // A static contiguous split: the range thread `index` of `num_threads` would get,
  // [*begin, *end), with boundaries at multiples of `grain`.
  static void Partition(int64_t n, int64_t grain, int index, int num_threads, int64_t* begin,
                        int64_t* end);

 private:
  struct Impl;
  int num_threads_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem
