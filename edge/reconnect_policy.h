// When and where the edge tries to get back to a cloud worker after the link failed:
// exponential backoff with jitter (so that a fleet of devices does not reconnect in
// lockstep after an outage) over one or more endpoints, round robin starting with the
// endpoint that was in use (its worker may still hold the session: no replay).
//
// The policy only keeps time and counts; the generator runs the attempts. It outlives
// generations, so a device that is offline starts its next generation on the fallback
// model instead of waiting for an open to time out.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/util/clock.h"

namespace tandem::edge {

struct ReconnectOptions {
  absl::Duration initial_backoff = absl::Milliseconds(100);  // before the 2nd attempt
  absl::Duration max_backoff = absl::Seconds(10);
  double multiplier = 2;
  double jitter = 0.2;  // each delay is scaled by a uniform factor in [1 - j, 1 + j]
  absl::Duration open_timeout = absl::Seconds(2);  // one attempt: Hello -> Ready
  // Tokens to generate on the fallback model before switching back to the cloud, so that
  // a flapping link does not bounce the stream between the two at every token.
  int32_t min_fallback_tokens = 0;
  // Without a fallback model, a generation fails after this long without a worker (0: at
  // the first link error, with that error).
  absl::Duration give_up_after = absl::Seconds(5);

  // InvalidArgument for values out of range.
  absl::Status Validate() const;
};

// Not thread-safe: one per generator.
class ReconnectPolicy {
 public:
  // `clock` must outlive the policy. `seed` seeds the jitter.
  ReconnectPolicy(const ReconnectOptions& options, int32_t endpoints, const Clock& clock,
                  uint64_t seed);

  // The endpoint in use when all is well (the last one that worked).
  int32_t preferred() const { return preferred_; }
  // True from a failure until the next success.
  bool in_outage() const { return in_outage_; }
  absl::Time outage_start() const { return outage_start_; }
  // Attempts failed in this outage.
  int32_t failed_attempts() const { return failed_attempts_; }

  // The link to `endpoint` failed (a step, an open or a catch-up). Starts an outage if none
  // is running; the first attempt is due at once (a dropped connection often comes back at
  // once), the next ones after the backoff.
  void OnFailure(int32_t endpoint);
  // An endpoint answered with an error that retrying soon will not fix (another model,
  // bad credentials, ...): it is skipped for max_backoff (it may be redeployed).
  void Disable(int32_t endpoint);
  // The session is back on `endpoint`.
  void OnSuccess(int32_t endpoint);

  // Whether an attempt is due now (one at a time: not while one is running).
  bool AttemptDue() const;
  absl::Time next_attempt() const { return next_attempt_; }
  // The endpoint to try next: round robin from the preferred one, skipping disabled ones;
  // -1 if every endpoint is disabled.
  int32_t NextEndpoint() const;
  // An attempt on NextEndpoint() was started. Report its failure with OnFailure, which
  // schedules the next one after the backoff.
  void AttemptStarted();
  // The attempt was given up without a result (its generation ended): the next one may
  // start at once.
  void AttemptAbandoned();

  // The delay after `failures` failed attempts, before jitter: initial * multiplier^(n-1),
  // capped (0 for n = 0).
  absl::Duration BaseBackoff(int32_t failures) const;

 private:
  const ReconnectOptions options_;
  const Clock& clock_;
  std::mt19937_64 rng_;
  std::vector<absl::Time> disabled_until_;
  int32_t preferred_ = 0;
  bool in_outage_ = false;
  absl::Time outage_start_;
  absl::Time next_attempt_;
  int32_t failed_attempts_ = 0;
  int32_t attempts_ = 0;  // started in this outage (the round-robin index)
};

}  // namespace tandem::edge
