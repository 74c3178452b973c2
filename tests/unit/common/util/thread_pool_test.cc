#include "common/util/thread_pool.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tandem {
namespace {

TEST(ThreadPoolTest, SingleThreadRunsInlineOnCaller) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.num_threads(), 1);
  const std::thread::id caller = std::this_thread::get_id();
  int calls = 0;
  pool.Run([&](int index, int count) {
    EXPECT_EQ(index, 0);
    EXPECT_EQ(count, 1);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPoolTest, NonPositiveSizeMeansOneThread) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.num_threads(), 1);
}

TEST(ThreadPoolTest, RunCallsEveryIndexOnceOnDistinctThreads) {
  for (int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    std::mutex mu;
    std::vector<int> seen(threads, 0);
    std::set<std::thread::id> ids;
    pool.Run([&](int index, int count) {
      EXPECT_EQ(count, threads);
      std::lock_guard<std::mutex> lock(mu);
      ++seen[index];
      ids.insert(std::this_thread::get_id());
    });
    for (int i = 0; i < threads; ++i) EXPECT_EQ(seen[i], 1) << i;
    EXPECT_EQ(ids.size(), static_cast<size_t>(threads));
  }
}

TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 64, 1000, 4099}) {
      for (int64_t grain : {1, 4, 16, 100}) {
        std::vector<std::atomic<int>> hits(n);
        pool.ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
          ASSERT_LT(begin, end);
          ASSERT_LE(end, n);
          EXPECT_EQ(begin % grain, 0) << "chunks start on a grain boundary";
          EXPECT_TRUE(end == n || end % grain == 0) << "and end on one";
          for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " grain=" << grain << " i=" << i;
        }
      }
    }
  }
}

TEST(ThreadPoolTest, PartitionIsContiguousAndDeterministic) {
  for (int threads : {1, 2, 3, 7}) {
    for (int64_t n : {1, 10, 33, 1024}) {
      for (int64_t grain : {1, 8}) {
        int64_t expect_begin = 0;
        for (int t = 0; t < threads; ++t) {
          int64_t b, e, b2, e2;
          ThreadPool::Partition(n, grain, t, threads, &b, &e);
          ThreadPool::Partition(n, grain, t, threads, &b2, &e2);
          EXPECT_EQ(b, b2);
          EXPECT_EQ(e, e2);
          EXPECT_EQ(b, expect_begin);
          EXPECT_LE(b, e);
          expect_begin = e;
        }
        EXPECT_EQ(expect_begin, n);
      }
    }
  }
}

TEST(ThreadPoolTest, ParallelForChunksAreDeterministic) {
  // The same (n, grain, pool size) always yields the same set of chunks.
  ThreadPool pool(3);
  auto chunks = [&] {
    std::mutex mu;
    std::set<std::pair<int64_t, int64_t>> out;
    pool.ParallelFor(1000, 8, [&](int64_t b, int64_t e) {
      std::lock_guard<std::mutex> lock(mu);
      out.insert({b, e});
    });
    return out;
  };
  const auto first = chunks();
  EXPECT_GT(first.size(), 1u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(chunks(), first);
}

TEST(ThreadPoolTest, ParallelForRightAfterCreation) {
  // Workers may not have started yet: the caller must not wait for them.
  for (int i = 0; i < 200; ++i) {
    ThreadPool pool(3);
    std::atomic<int64_t> sum{0};
    pool.ParallelFor(100, 1, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) sum.fetch_add(j);
    });
    ASSERT_EQ(sum.load(), 4950);
  }
}

TEST(ThreadPoolTest, MixedRunAndParallelFor) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int r = 0; r < 3000; ++r) {
    if (r % 3 == 0) {
      pool.Run([&](int index, int) { total.fetch_add(index + 1); });  // 6 per Run
    } else {
      pool.ParallelFor(64, 4, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
    }
    if (r % 500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(total.load(), 1000 * 6 + 2000 * 64);
}

TEST(ThreadPoolTest, ResultIndependentOfThreadCount) {
  // Each chunk writes its own outputs, so any pool size gives the same array.
  auto compute = [](int threads) {
    ThreadPool pool(threads);
    std::vector<double> out(5000);
    pool.ParallelFor(static_cast<int64_t>(out.size()), 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = static_cast<double>(i) * 0.5 + 1.0 / (i + 1);
    });
    return out;
  };
  const std::vector<double> one = compute(1);
  EXPECT_EQ(compute(2), one);
  EXPECT_EQ(compute(3), one);
}

TEST(ThreadPoolTest, ManyBackToBackRuns) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  constexpr int kRuns = 5000;
  for (int r = 0; r < kRuns; ++r) {
    pool.Run([&](int index, int) { total.fetch_add(index + 1, std::memory_order_relaxed); });
  }
  EXPECT_EQ(total.load(), int64_t{kRuns} * (1 + 2 + 3));
}

// Waits (up to 5 s) until `n` workers of `pool` sleep; false if they never do.
bool WaitUntilAsleep(const ThreadPool& pool, int n) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pool.sleeping_workers() != n) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(ThreadPoolTest, WakesWorkersAfterTheySleep) {
  ThreadPool pool(3);
  for (int r = 0; r < 5; ++r) {
    // Past the spin phase the workers block on the futex; each Run must wake both.
    ASSERT_TRUE(WaitUntilAsleep(pool, 2)) << "round " << r << ": workers never slept";
    std::atomic<int> ran_on[3] = {0, 0, 0};
    pool.Run([&](int index, int) { ran_on[index].fetch_add(1); });
    for (int t = 0; t < 3; ++t) EXPECT_EQ(ran_on[t].load(), 1) << "round " << r << " thread " << t;
  }
}

TEST(ThreadPoolTest, CallerWaitsForSlowWorker) {
  // The caller finishes first and has to sleep until the worker is done.
  ThreadPool pool(2);
  std::atomic<bool> worker_done{false};
  pool.Run([&](int index, int) {
    if (index == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      worker_done.store(true);
    }
  });
  EXPECT_TRUE(worker_done.load());
}

TEST(ThreadPoolTest, DestroyIdlePool) {
  // Destroying a pool joins its workers whether they still poll or already sleep; a
  // worker left asleep would hang the destructor (checked with a bound, not a hang).
  for (bool asleep : {false, true}) {
    for (int i = 0; i < 10; ++i) {
      auto pool = std::make_unique<ThreadPool>(3);
      if (asleep) {
        ASSERT_TRUE(WaitUntilAsleep(*pool, 2));
      }
      auto destroyed = std::async(std::launch::async, [&pool] { pool.reset(); });
      ASSERT_EQ(destroyed.wait_for(std::chrono::seconds(10)), std::future_status::ready)
          << (asleep ? "sleeping" : "polling") << " workers were not joined";
    }
  }
}

}  // namespace
}  // namespace tandem
