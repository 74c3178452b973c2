// How long the edge waits for the worker's answer to a decode step before it declares the
// link dead. A fixed timeout is either too long (the app sees a long stall on every
// outage) or too short (a slow but healthy worker trips it), so the deadline follows the
// measured step latency, as TCP's retransmission timeout follows the round-trip time
// (RFC 6298): a smoothed latency plus four times its mean deviation, at least twice the
// smoothed latency, never below a floor (scheduling noise, GC pauses of the network
// stack) nor above a ceiling (also used until the first measurement).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tandem::edge {

struct StepDeadlineOptions {
  absl::Duration floor = absl::Milliseconds(250);
  absl::Duration ceiling = absl::Seconds(10);  // and the deadline before any measurement
  // A step that carries several chunks (a prompt, a catch-up after reconnecting) may take
  // this many decode-step deadlines per chunk: a chunk of many positions costs more than
  // one position, but far less than one position times their number.
  double chunk_factor = 4;  // checked by ResilienceOptions::Validate
};

// Not thread-safe: one per generator.
class StepDeadline {
 public:
  explicit StepDeadline(const StepDeadlineOptions& options) : options_(options) {}

  // A decode step (one position) that succeeded after `latency`.
  void Observe(absl::Duration latency);

  // The deadline for a one-position decode step (the ceiling before any measurement).
  absl::Duration decode() const;
  // The deadline per chunk for a step of `positions` positions: decode() for one, the
  // ceiling before any measurement, else decode() * chunk_factor.
  absl::Duration per_chunk(int32_t positions) const;

  bool measured() const { return measured_; }
  absl::Duration smoothed() const { return smoothed_; }

 private:
  StepDeadlineOptions options_;
  bool measured_ = false;
  absl::Duration smoothed_;   // SRTT
  absl::Duration deviation_;  // RTTVAR
};

}  // namespace tandem::edge
