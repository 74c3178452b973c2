// Bounded concurrency for generations: a fixed number of slots, each with its own compute
// pool (ThreadPool allows one Run at a time) and split generator (with its edge KV cache).
// A request takes a slot for the whole generation; a bounded number of requests may wait
// for one, the rest are refused at once (the HTTP API answers 429).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/util/thread_pool.h"
#include "edge/fallback_model.h"
#include "edge/resilient_generator.h"

namespace tandem::edge {

struct PoolOptions {
  int32_t slots = 1;             // concurrent generations
  int32_t threads_per_slot = 2;  // compute threads of each generation
  int32_t max_waiting = 8;       // requests queued for a slot

  absl::Status Validate() const;
};

class GenerationPool {
 public:
  // One worker, no fallback model and no reconnect: a link error ends the generation.
  static absl::StatusOr<std::unique_ptr<GenerationPool>> Create(const EdgeModel& model,
                                                                CloudLink& link, const Clock& clock,
                                                                EdgeMetrics& metrics,
                                                                const SplitOptions& split,
                                                                const PoolOptions& options);
  // Resilient generations (resilient_generator.h) over `endpoints` with `fallback` (may be
  // null); everything passed must outlive the pool.
  static absl::StatusOr<std::unique_ptr<GenerationPool>> Create(
      const EdgeModel& model, const std::vector<CloudEndpoint>& endpoints,
      const FallbackModel* fallback, const Clock& clock, EdgeMetrics& metrics,
      const SplitOptions& split, const ResilienceOptions& resilience, const PoolOptions& options);
  ~GenerationPool();

  // A slot, returned to the pool when the lease is destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), slot_(other.slot_) {
      other.pool_ = nullptr;
    }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    ResilientGenerator& generator();

   private:
    friend class GenerationPool;
    Lease(GenerationPool* pool, int32_t slot) : pool_(pool), slot_(slot) {}
    GenerationPool* pool_;
    int32_t slot_;
  };

  // A free slot, waiting until `deadline` if all are busy. ResourceExhausted if
  // max_waiting requests are already waiting or no slot freed up in time.
  absl::StatusOr<Lease> Acquire(absl::Time deadline);

  int32_t slots() const { return static_cast<int32_t>(slots_.size()); }

 private:
  struct Slot {
    std::unique_ptr<ThreadPool> pool;
    std::unique_ptr<ResilientGenerator> generator;
  };
  GenerationPool(std::vector<Slot> slots, int32_t max_waiting);
  void Release(int32_t slot);

  std::vector<Slot> slots_;
  const int32_t max_waiting_;
  absl::Mutex mu_;
  std::vector<int32_t> free_ ABSL_GUARDED_BY(mu_);
  int32_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tandem::edge
