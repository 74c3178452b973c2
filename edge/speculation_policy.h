// How many tokens the edge's draft model guesses before each cloud round trip (speculative
// decoding, see ResilientGenerator), chosen from what the rounds so far measured:
//
//   acceptance a   the chance that a draft token equals the worker's (each draft after a
//                  rejected one is not looked at, so a round of g drafts with k accepted
//                  counts k successes and, if k < g, one failure);
//   draft time     per draft token on the device;
//   round time     send -> token, fitted as T0 + g * c (a longer chunk costs both sides
//                  a little more per position).
//
// A round of g drafts yields (1 - a^(g+1)) / (1 - a) tokens on average and takes
// g * draft + T0 + g * c; the policy picks the g in [0, max] with the most tokens per
// second (0: a plain step), so speculation turns itself off where it does not pay (low
// acceptance, a fast link with a slow draft). While off, a round with a few drafts measures
// again after `probe_interval` plain tokens, then after twice as many each time it finds
// drafting still does not pay (up to 16 times the interval). The estimates decay (half weight after
// `half_life_rounds`), so they follow a changing link or text.
#pragma once

#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tandem::edge {

class FallbackModel;

// Tokens one round of `drafts` drafts yields on average when each draft is accepted with
// probability `acceptance` (< 1): the accepted prefix plus the worker's own token. Shared
// by the policy and tandem-tune's cost model.
inline double ExpectedTokensPerRound(double acceptance, int32_t drafts) {
  return (1 - std::pow(acceptance, drafts + 1)) / (1 - acceptance);
}

struct SpeculationOptions {
  bool enabled = false;
  // The model that drafts; null: the fallback model (which must then be given).
  const FallbackModel* draft_model = nullptr;
  int32_t max_draft_tokens = 8;  // per round (the worker may allow fewer)
  // False: every round drafts max_draft_tokens (benchmarks, tests), whatever it measures.
  bool adaptive = true;
  int32_t probe_interval = 64;  // plain tokens between measuring rounds while off
  double half_life_rounds = 16;

  absl::Status Validate() const;
};

class SpeculationPolicy {
 public:
  explicit SpeculationPolicy(const SpeculationOptions& options);

  // Draft tokens for the next round, at most `capacity` (what the stream and the context
  // allow); 0 means a plain step.
  int32_t NextDraftCount(int32_t capacity);

  // A finished round: `drafted` tokens guessed (0: a plain step), `accepted` of them kept;
  // `draft_time` spent drafting, `round_time` from sending to the token.
  void Observe(int32_t drafted, int32_t accepted, absl::Duration draft_time,
               absl::Duration round_time);

  // Forgets the plain-token count (a new generation starts measuring from its first token).
  void Restart() {
    plain_since_probe_ = 0;
    probe_wait_ = options_.probe_interval;
  }

  double acceptance() const;
  absl::Duration draft_time_per_token() const;
  // The fitted round time: T0 + g * c.
  absl::Duration round_time(int32_t drafts) const;
  // Expected tokens per second with `drafts` drafts per round.
  double TokensPerSecond(int32_t drafts) const;

 private:
  const SpeculationOptions options_;
  const double decay_;  // per round
  // Acceptance: decayed successes and failures, with a weak prior of one half, so that the
  // first measuring round decides (a draft the worker rejects is dropped at once).
  double accepted_ = 0.1, rejected_ = 0.1;
  // Draft seconds per token, decayed mean (no measurement yet: 0).
  double draft_weight_ = 0, draft_seconds_ = 0;
  // Round time against g: decayed sums for a least-squares line.
  double w_ = 0, wg_ = 0, wgg_ = 0, wt_ = 0, wgt_ = 0;
  int32_t rounds_ = 0;
  int32_t plain_since_probe_ = 0;
  int32_t probe_wait_;  // plain tokens before the next probe while off
};

}  // namespace tandem::edge
