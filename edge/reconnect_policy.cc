#include "edge/reconnect_policy.h"

#include <algorithm>
#include <cmath>

namespace tandem::edge {

absl::Status ReconnectOptions::Validate() const {
  if (initial_backoff <= absl::ZeroDuration() || max_backoff < initial_backoff) {
    return absl::InvalidArgumentError(
        "reconnect backoff: the initial delay must be positive and not above the maximum");
  }
  if (!(multiplier >= 1) || !std::isfinite(multiplier)) {
    return absl::InvalidArgumentError("reconnect backoff: the multiplier must be >= 1");
  }
  if (!(jitter >= 0 && jitter < 1)) {
    return absl::InvalidArgumentError("reconnect backoff: the jitter must be in [0, 1)");
  }
  if (open_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the reconnect open timeout must be positive");
  }
  if (min_fallback_tokens < 0) {
    return absl::InvalidArgumentError("the minimum number of fallback tokens must be >= 0");
  }
  if (give_up_after < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the give-up time must be >= 0");
  }
  return absl::OkStatus();
}

ReconnectPolicy::ReconnectPolicy(const ReconnectOptions& options, int32_t endpoints,
                                 const Clock& clock, uint64_t seed)
    : options_(options),
      clock_(clock),
      rng_(seed),
      disabled_until_(std::max(endpoints, 1), absl::InfinitePast()) {}

absl::Duration ReconnectPolicy::BaseBackoff(int32_t failures) const {
  if (failures <= 0) return absl::ZeroDuration();
  absl::Duration d = options_.initial_backoff;
  for (int32_t i = 1; i < failures && d < options_.max_backoff; ++i) d = d * options_.multiplier;
  return std::min(d, options_.max_backoff);
}

void ReconnectPolicy::OnFailure(int32_t endpoint) {
  const absl::Time now = clock_.Now();
  if (!in_outage_) {
    in_outage_ = true;
    outage_start_ = now;
    failed_attempts_ = 0;
    attempts_ = 0;
    preferred_ = endpoint;
    next_attempt_ = now;
    return;
  }
  ++failed_attempts_;
  std::uniform_real_distribution<double> factor(1 - options_.jitter, 1 + options_.jitter);
  next_attempt_ = now + BaseBackoff(failed_attempts_) * factor(rng_);
}

void ReconnectPolicy::Disable(int32_t endpoint) {
  disabled_until_[endpoint] = clock_.Now() + options_.max_backoff;
}

void ReconnectPolicy::OnSuccess(int32_t endpoint) {
  in_outage_ = false;
  preferred_ = endpoint;
  failed_attempts_ = 0;
  attempts_ = 0;
  std::fill(disabled_until_.begin(), disabled_until_.end(), absl::InfinitePast());
}

bool ReconnectPolicy::AttemptDue() const {
  return in_outage_ && clock_.Now() >= next_attempt_ && NextEndpoint() >= 0;
}

int32_t ReconnectPolicy::NextEndpoint() const {
  const int32_t n = static_cast<int32_t>(disabled_until_.size());
  const absl::Time now = clock_.Now();
  for (int32_t i = 0; i < n; ++i) {
    const int32_t e = (preferred_ + attempts_ + i) % n;
    if (disabled_until_[e] <= now) return e;
  }
  return -1;
}

void ReconnectPolicy::AttemptStarted() {
  // Skip past the disabled endpoints NextEndpoint() skipped, then move on by one.
  const int32_t n = static_cast<int32_t>(disabled_until_.size());
  const int32_t e = NextEndpoint();
  if (e >= 0) attempts_ = ((e - preferred_) % n + n) % n + 1;
  next_attempt_ = absl::InfiniteFuture();  // until this attempt fails
}

void ReconnectPolicy::AttemptAbandoned() {
  if (next_attempt_ == absl::InfiniteFuture()) next_attempt_ = clock_.Now();
}

}  // namespace tandem::edge
