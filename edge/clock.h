// Time for the edge's deadlines and latency metrics, behind an interface so that tests
// can control it.
#pragma once

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tandem::edge {

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

}  // namespace tandem::edge
