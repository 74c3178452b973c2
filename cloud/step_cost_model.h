// How long a batch of the worker's layer work takes, by its size in positions, learned
// from the batches actually run. The scheduler feeds it; admission control asks it
// whether one more session would still meet everyone's per-token target.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tandem::cloud {

// The part of a per-token target that two batches may take (a step can arrive while one
// runs, then runs in the next); the rest is left for the network turn, the gathering
// pause and noise. Admission and batch sizing both plan with it.
inline absl::Duration BatchPairBudget(absl::Duration target) { return target * 0.8; }

class StepCostModel {
 public:
  // A batch of `rows` positions took `duration`.
  void Observe(int32_t rows, absl::Duration duration);

  // Expected duration of a batch of `rows` positions: the running mean at that size if
  // seen, else a least-squares line through the means seen (a batch costs a fixed part,
  // streaming the weights, plus a part per position), else the mean at the one size
  // seen. nullopt before any batch ran.
  std::optional<absl::Duration> Predict(int32_t rows) const;

  // Forgets every observation (e.g. after a cold warm-up batch).
  void Clear();

 private:
  struct Mean {
    double seconds = 0;
    int64_t count = 0;
  };
  mutable absl::Mutex mu_;
  std::map<int32_t, Mean> by_rows_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::cloud
