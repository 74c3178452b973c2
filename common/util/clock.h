// Wall time behind an interface (the worker's idle timeouts, the edge's deadlines and
// latency metrics), so that tests can advance time by hand instead of sleeping.
#pragma once

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tandem {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// absl::Now().
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace tandem
