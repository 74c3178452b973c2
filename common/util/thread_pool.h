// A fixed-size pool of worker threads for data-parallel kernels (fork-join).
// The calling thread takes part in the work, so ThreadPool(1) runs everything inline.
//
// Decode dispatches a few hundred jobs per token, so a Run costs a few microseconds:
// idle workers spin on a generation counter for a short while (kSpinMicros) before
// sleeping on a futex (std::atomic::wait), so a quiet pool does not burn CPU.
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

  // Runs fn(thread_index, num_threads) on every thread (the caller is index 0) and
  // returns when all have finished. Not reentrant: one Run at a time per pool.
  void Run(const std::function<void(int thread_index, int num_threads)>& fn);

  // Splits [0, n) into contiguous chunks (multiples of `grain`, except the last) and
  // runs fn(begin, end) for each non-empty chunk, at most one chunk per thread; a
  // deterministic partition for a given n, grain and pool size.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // The chunk ParallelFor gives thread `index` of `num_threads`: [*begin, *end).
  static void Partition(int64_t n, int64_t grain, int index, int num_threads, int64_t* begin,
                        int64_t* end);

 private:
  struct Impl;
  int num_threads_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem
