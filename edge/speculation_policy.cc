#include "edge/speculation_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace tandem::edge {
namespace {

// Drafts of a measuring round (the first, and while speculation is off): one, the cheapest
// that measures both the acceptance and the draft time.
constexpr int32_t kProbeDrafts = 1;

}  // namespace

absl::Status SpeculationOptions::Validate() const {
  if (max_draft_tokens < 1 || max_draft_tokens > 64) {
    return absl::InvalidArgumentError(
        absl::StrFormat("max draft tokens must be in [1, 64], got %d", max_draft_tokens));
  }
  if (probe_interval < 1) return absl::InvalidArgumentError("the probe interval must be >= 1");
  if (!(half_life_rounds >= 1)) {
    return absl::InvalidArgumentError("the estimates' half life must be >= 1 round");
  }
  return absl::OkStatus();
}

SpeculationPolicy::SpeculationPolicy(const SpeculationOptions& options)
    : options_(options),
      decay_(std::exp2(-1.0 / options.half_life_rounds)),
      probe_wait_(options.probe_interval) {}

double SpeculationPolicy::acceptance() const {
  const double n = accepted_ + rejected_;
  return n > 0 ? accepted_ / n : 0.5;
}

absl::Duration SpeculationPolicy::draft_time_per_token() const {
  return draft_weight_ > 0 ? absl::Seconds(draft_seconds_ / draft_weight_) : absl::ZeroDuration();
}

absl::Duration SpeculationPolicy::round_time(int32_t drafts) const {
  if (w_ <= 0) return absl::ZeroDuration();
  const double mean_g = wg_ / w_, mean_t = wt_ / w_;
  const double var_g = wgg_ / w_ - mean_g * mean_g;
  // Without a spread of draft counts the slope is unknown: take the mean as flat.
  double slope = var_g > 1e-3 ? (wgt_ / w_ - mean_g * mean_t) / var_g : 0;
  slope = std::max(slope, 0.0);
  const double t = mean_t + slope * (drafts - mean_g);
  return absl::Seconds(std::max(t, 0.0));
}

double SpeculationPolicy::TokensPerSecond(int32_t drafts) const {
  const double a = std::min(acceptance(), 0.999);
  const double tokens = ExpectedTokensPerRound(a, drafts);
  const double seconds = drafts * absl::ToDoubleSeconds(draft_time_per_token()) +
                         absl::ToDoubleSeconds(round_time(drafts));
  return seconds > 0 ? tokens / seconds : 0;
}

int32_t SpeculationPolicy::NextDraftCount(int32_t capacity) {
  const int32_t limit = std::min(capacity, options_.max_draft_tokens);
  if (limit <= 0) return 0;
  if (!options_.adaptive) return limit;
  // Nothing measured yet: one measuring round.
  if (rounds_ == 0 || draft_weight_ == 0) return std::min(limit, kProbeDrafts);
  int32_t best = 0;
  double best_rate = TokensPerSecond(0);
  for (int32_t g = 1; g <= limit; ++g) {
    const double rate = TokensPerSecond(g);
    if (rate > best_rate) {
      best = g;
      best_rate = rate;
    }
  }
  if (best == 0) {
    if (++plain_since_probe_ < probe_wait_) return 0;
    plain_since_probe_ = 0;
    probe_wait_ = std::min(2 * probe_wait_, 16 * options_.probe_interval);
    return std::min(limit, kProbeDrafts);
  }
  probe_wait_ = options_.probe_interval;
  // Every fourth round a shorter one keeps the round-time line's slope measurable.
  if (rounds_ % 4 == 3 && best > 1) return best / 2;
  return best;
}

void SpeculationPolicy::Observe(int32_t drafted, int32_t accepted, absl::Duration draft_time,
                                absl::Duration round_time) {
  ++rounds_;
  // Every round ages every estimate, plain ones too: after a long plain stretch one probe
  // speaks for the text as it is now.
  for (double* sum :
       {&w_, &wg_, &wgg_, &wt_, &wgt_, &accepted_, &rejected_, &draft_weight_, &draft_seconds_}) {
    *sum *= decay_;
  }
  const double t = absl::ToDoubleSeconds(round_time);
  const double g = drafted;
  w_ += 1;
  wg_ += g;
  wgg_ += g * g;
  wt_ += t;
  wgt_ += g * t;
  if (drafted <= 0) return;
  accepted_ += accepted;
  rejected_ += accepted < drafted ? 1 : 0;
  draft_weight_ += drafted;
  draft_seconds_ += absl::ToDoubleSeconds(draft_time);
}

}  // namespace tandem::edge
