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
// the kernels of one decode step, short enough that an idle pool is quiet. A pool with
// more threads than cores also yields after kPureSpinTime, so it still moves; a pool that
// fits does not, since yielding on a busy machine hands the core to other processes and
// the next job then waits for the thread to be scheduled again.
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
uint32_t SpinWhileEqual(const std::atomic<uint32_t>& word, uint32_t value, bool yield) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < kPollsPerClockRead; ++i) {
      uint32_t v = word.load(std::memory_order_acquire);
      if (v != value) return v;
      CpuRelax();
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    if (waited > kSpinTime) return value;
    if (yield && waited > kPureSpinTime) std::this_thread::yield();
  }
}

}  // namespace

// admission word: generation << 32 | kClosed | number of workers inside the job.
constexpr uint64_t kClosed = uint64_t{1} << 31;
constexpr uint64_t kActiveMask = kClosed - 1;

struct ThreadPool::Impl {
  // Bumped by the caller to start a job; workers wait for it to change.
  alignas(64) std::atomic<uint32_t> generation{0};
  // Workers sleeping (or about to) on `generation`; the caller only wakes if > 0.
  alignas(64) std::atomic<uint32_t> sleepers{0};
  // Which job workers may join (its generation), whether it is closed to late arrivals,
  // and how many workers are inside it. A worker reads `job` only after joining, and the
  // caller returns only once nobody is inside, so the job outlives every reader.
  alignas(64) std::atomic<uint64_t> admission{0};
  // Workers that left the current job.
  alignas(64) std::atomic<uint32_t> finished{0};
  // Bumped by every worker as the last step of leaving a job, never reset: the word the
  // caller sleeps on. (Sleeping on `finished` or `admission` lost wake-ups: `finished`
  // changes before the worker leaves, and `admission` can return to the value the caller
  // read, a worker joining and leaving between the caller's check and its sleep.)
  alignas(64) std::atomic<uint32_t> leaves{0};
  // Set while the caller sleeps on `leaves`; leaving workers then wake it.
  alignas(64) std::atomic<uint32_t> caller_sleeping{0};

  alignas(64) const std::function<void(int, int)>* job = nullptr;
  std::atomic<bool> stop{false};
  uint32_t last_generation = 0;  // caller side
  int num_threads = 1;
  bool oversubscribed = false;  // more threads than cores
  std::vector<std::thread> workers;

  void WorkerLoop(int index) {
    uint32_t seen = 0;
    for (;;) {
      uint32_t g = SpinWhileEqual(generation, seen, oversubscribed);
      if (g == seen) {
        // Dekker-style handshake with Dispatch: either we see the new generation or the
        // caller sees us in `sleepers` and wakes us (all seq_cst).
        sleepers.fetch_add(1);
        while ((g = generation.load()) == seen) WaitWhileEqual(generation, seen);
        sleepers.fetch_sub(1);
      }
      seen = g;
      if (stop.load(std::memory_order_acquire)) return;
      if (!Join(g)) continue;  // that job is over or closed; wait for the next one
      (*job)(index, num_threads);
      Leave();
    }
  }

  bool Join(uint32_t g) {
    uint64_t s = admission.load(std::memory_order_acquire);
    for (;;) {
      if ((s >> 32) != g || (s & kClosed) != 0) return false;
      if (admission.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
        return true;
      }
    }
  }

  void Leave() {
    // Count ourselves out before leaving, so once the caller sees nobody inside, no worker
    // of this job touches `finished` again (the next job resets it).
    finished.fetch_add(1);
    admission.fetch_sub(1);
    leaves.fetch_add(1);
    if (caller_sleeping.load() != 0) WakeAll(leaves);
  }

  void Dispatch(const std::function<void(int, int)>* fn) {
    job = fn;
    const uint32_t g = ++last_generation;
    finished.store(0, std::memory_order_relaxed);
    // Open admission before publishing the generation, so a woken worker finds it open.
    admission.store(static_cast<uint64_t>(g) << 32, std::memory_order_release);
    generation.store(g);
    if (sleepers.load() != 0) WakeAll(generation);
  }

  // Polls `done()` for a while, then sleeps on `finished` until it holds.
  template <typename Done>
  void WaitFor(const Done& done) {
    const auto start = std::chrono::steady_clock::now();
    for (int polls = 1; !done(); ++polls) {
      CpuRelax();
      if (polls % kPollsPerClockRead != 0) continue;
      const auto waited = std::chrono::steady_clock::now() - start;
      if (waited < kSpinTime) {
        if (oversubscribed && waited > kPureSpinTime) std::this_thread::yield();
        continue;
      }
      // Same handshake as the workers': a leaving worker sees the flag or we see it left.
      caller_sleeping.store(1);
      for (;;) {
        const uint32_t l = leaves.load();
        if (done()) break;
        WaitWhileEqual(leaves, l);
      }
      caller_sleeping.store(0);
      return;
    }
  }

  // Every worker runs the job once.
  void RunAll(const std::function<void(int, int)>& fn) {
    Dispatch(&fn);
    fn(0, num_threads);
    // All workers counted out and none still inside (a worker counts itself out before
    // leaving admission, and the next Dispatch rewrites admission).
    const uint32_t target = static_cast<uint32_t>(num_threads - 1);
    WaitFor([&] {
      return finished.load(std::memory_order_acquire) == target &&
             (admission.load(std::memory_order_acquire) & kActiveMask) == 0;
    });
  }

  // Workers that arrive in time help; late ones are turned away.
  void RunElastic(const std::function<void(int, int)>& fn) {
    Dispatch(&fn);
    fn(0, num_threads);
    const uint64_t s = admission.fetch_or(kClosed, std::memory_order_acq_rel);
    if ((s & kActiveMask) == 0) return;
    WaitFor([&] { return (admission.load(std::memory_order_acquire) & kActiveMask) == 0; });
  }
};

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads < 1 ? 1 : num_threads), impl_(std::make_unique<Impl>()) {
  impl_->num_threads = num_threads_;
  const unsigned cores = std::thread::hardware_concurrency();
  impl_->oversubscribed = cores != 0 && static_cast<unsigned>(num_threads_) > cores;
  impl_->workers.reserve(num_threads_ - 1);
  for (int i = 1; i < num_threads_; ++i) {
    impl_->workers.emplace_back([this, i] { impl_->WorkerLoop(i); });
  }
}

int ThreadPool::sleeping_workers() const {
  return static_cast<int>(impl_->sleepers.load(std::memory_order_acquire));
}

ThreadPool::~ThreadPool() {
  if (impl_->workers.empty()) return;
  impl_->stop.store(true, std::memory_order_release);
  impl_->generation.store(impl_->last_generation + 1);
  WakeAll(impl_->generation);
  for (std::thread& t : impl_->workers) t.join();
}

void ThreadPool::Run(const std::function<void(int, int)>& fn) {
  if (num_threads_ == 1) {
    fn(0, 1);
    return;
  }
  impl_->RunAll(fn);
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
  const int64_t units = (n + grain - 1) / grain;
  if (num_threads_ == 1 || units == 1) {
    fn(0, n);
    return;
  }
  // A few chunks per thread, so a thread that starts late or runs slow leaves its share
  // to the others.
  constexpr int64_t kChunksPerThread = 4;
  const int64_t chunks_wanted = kChunksPerThread * num_threads_;
  const int64_t chunk = grain * ((units + chunks_wanted - 1) / chunks_wanted);
  const int64_t num_chunks = (n + chunk - 1) / chunk;
  std::atomic<int64_t> next{0};
  impl_->RunElastic([&](int, int) {
    for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < num_chunks;) {
      const int64_t begin = c * chunk;
      fn(begin, begin + chunk < n ? begin + chunk : n);
    }
  });
}

}  // namespace tandem
