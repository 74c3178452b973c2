#include "common/util/thread_pool.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tandem {
namespace {

// How long an idle thread polls before it sleeps. Long enough to bridge the gaps between
// the kernels of one decode step, short enough that an idle pool is quiet. After
// kPureSpinTime the poll also yields, so a pool larger than the free cores still moves.
constexpr std::chrono::microseconds kSpinTime(200);
constexpr std::chrono::microseconds kPureSpinTime(20);
constexpr int kPollsPerClockRead = 64;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Blocks while *word == expected (futex on Linux; std::atomic::wait elsewhere).
void WaitWhileEqual(std::atomic<uint32_t>& word, uint32_t expected) {
#if defined(__linux__)
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
#else
  word.wait(expected);
#endif
}

void WakeAll(std::atomic<uint32_t>& word) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
#else
  word.notify_all();
#endif
}

// Polls until `word` != `value` or kSpinTime has passed; returns the last value read.
uint32_t SpinWhileEqual(const std::atomic<uint32_t>& word, uint32_t value) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < kPollsPerClockRead; ++i) {
      uint32_t v = word.load(std::memory_order_acquire);
      if (v != value) return v;
      CpuRelax();
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    if (waited > kSpinTime) return value;
    if (waited > kPureSpinTime) std::this_thread::yield();
  }
}

}  // namespace

struct ThreadPool::Impl {
  // Bumped by the caller to start a job; workers wait for it to change.
  alignas(64) std::atomic<uint32_t> generation{0};
  // Workers sleeping (or about to) on `generation`; the caller only wakes if > 0.
  alignas(64) std::atomic<uint32_t> sleepers{0};
  // Workers that finished the current job.
  alignas(64) std::atomic<uint32_t> done{0};
  // The caller sleeps on `done`; the last worker wakes it if set.
  alignas(64) std::atomic<uint32_t> caller_sleeping{0};

  // Written before `generation` is bumped (release), read after (acquire).
  alignas(64) const std::function<void(int, int)>* job = nullptr;
  bool stop = false;
  int num_threads = 1;
  std::vector<std::thread> workers;

  void WorkerLoop(int index) {
    uint32_t seen = 0;
    for (;;) {
      uint32_t g = SpinWhileEqual(generation, seen);
      if (g == seen) {
        // Dekker-style handshake with Dispatch: either we see the new generation or the
        // caller sees us in `sleepers` and wakes us (all seq_cst).
        sleepers.fetch_add(1);
        while ((g = generation.load()) == seen) WaitWhileEqual(generation, seen);
        sleepers.fetch_sub(1);
      }
      seen = g;
      if (stop) return;
      (*job)(index, num_threads);
      if (done.fetch_add(1) + 1 == static_cast<uint32_t>(num_threads - 1) &&
          caller_sleeping.load() != 0) {
        WakeAll(done);
      }
    }
  }

  void Dispatch() {
    done.store(0, std::memory_order_relaxed);
    generation.fetch_add(1);
    if (sleepers.load() != 0) WakeAll(generation);
  }

  void Join() {
    const uint32_t target = static_cast<uint32_t>(num_threads - 1);
    uint32_t d;
    while ((d = done.load(std::memory_order_acquire)) != target) {
      if (SpinWhileEqual(done, d) != d) continue;  // progress: keep polling
      // Same handshake as the workers': the last worker sees the flag or we see it done.
      caller_sleeping.store(1);
      while ((d = done.load()) != target) WaitWhileEqual(done, d);
      caller_sleeping.store(0);
      return;
    }
  }
};

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads < 1 ? 1 : num_threads), impl_(std::make_unique<Impl>()) {
  impl_->num_threads = num_threads_;
  impl_->workers.reserve(num_threads_ - 1);
  for (int i = 1; i < num_threads_; ++i) {
    impl_->workers.emplace_back([this, i] { impl_->WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  if (impl_->workers.empty()) return;
  impl_->stop = true;
  impl_->Dispatch();
  for (std::thread& t : impl_->workers) t.join();
}

void ThreadPool::Run(const std::function<void(int, int)>& fn) {
  if (num_threads_ == 1) {
    fn(0, 1);
    return;
  }
  impl_->job = &fn;
  impl_->Dispatch();
  fn(0, num_threads_);
  impl_->Join();
  impl_->job = nullptr;
}

void ThreadPool::Partition(int64_t n, int64_t grain, int index, int num_threads, int64_t* begin,
                           int64_t* end) {
  if (grain < 1) grain = 1;
  const int64_t units = (n + grain - 1) / grain;
  const int64_t ub = units * index / num_threads;
  const int64_t ue = units * (index + 1) / num_threads;
  *begin = ub * grain < n ? ub * grain : n;
  *end = ue * grain < n ? ue * grain : n;
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (num_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  Run([&](int index, int count) {
    int64_t begin, end;
    Partition(n, grain, index, count, &begin, &end);
    if (begin < end) fn(begin, end);
  });
}

}  // namespace tandem
