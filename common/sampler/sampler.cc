#include "common/sampler/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tandem {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Higher logit first; equal logits by lower id, so every order below is deterministic.
bool Better(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// A double uniform in [0, 1) from the top 53 bits (std::uniform_real_distribution's
// algorithm is implementation-defined, so it could differ between standard libraries).
double ToUnitInterval(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// SplitMix64's finalizer: a bijective mix so that nearby (seed, position) pairs give
// unrelated generator seeds.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

absl::Status SamplingParams::Validate() const {
  if (!std::isfinite(temperature) || temperature < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be a finite number >= 0, got ", temperature));
  }
  if (!(top_p > 0 && top_p <= 1)) {  // also rejects NaN
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1], got ", top_p));
  }
  return absl::OkStatus();
}

Sampler::Sampler(const SamplingParams& params) : params_(params) {}

int32_t Sampler::Sample(absl::Span<const float> logits, int32_t position) {
  if (logits.empty()) return -1;
  const int32_t n = static_cast<int32_t>(logits.size());

  if (!(params_.temperature > 0)) {
    // Greedy: strict '>' keeps the lowest id among equal maxima; NaN never compares.
    int32_t best = 0;
    float best_logit = kNegInf;
    for (int32_t i = 0; i < n; ++i) {
      if (logits[i] > best_logit) {
        best_logit = logits[i];
        best = i;
      }
    }
    return best;
  }

  // Candidates, NaN mapped to -inf so that the ordering is a strict weak order.
  scratch_.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    scratch_[i] = {std::isnan(logits[i]) ? kNegInf : logits[i], i};
  }

  // Top-k: keep the k best, sorted. Without a cut, sort only if top-p needs the order.
  const int32_t k = params_.top_k > 0 ? std::min(params_.top_k, n) : n;
  if (k < n) {
    std::partial_sort(scratch_.begin(), scratch_.begin() + k, scratch_.end(), Better);
    scratch_.resize(k);
  } else if (params_.top_p < 1) {
    std::sort(scratch_.begin(), scratch_.end(), Better);
  }
  rng_.seed(Mix(params_.seed ^ Mix(static_cast<uint64_t>(position))));
  const uint64_t bits = rng_();
  const size_t m = scratch_.size();
  if (m == 1) return scratch_[0].second;

  // Temperature and softmax, in double, relative to the largest logit.
  float max_logit = kNegInf;
  for (const auto& [logit, id] : scratch_) max_logit = std::max(max_logit, logit);
  if (max_logit == kNegInf) {  // nothing finite to choose by
    int32_t lowest = scratch_[0].second;
    for (const auto& [logit, id] : scratch_) lowest = std::min(lowest, id);
    return lowest;
  }
  probs_.resize(m);
  double sum = 0;
  const double inv_temperature = 1.0 / params_.temperature;
  for (size_t i = 0; i < m; ++i) {
    const float logit = scratch_[i].first;
    double p;
    if (std::isinf(max_logit)) {
      p = logit == max_logit ? 1.0 : 0.0;  // +inf: exp(inf - inf) would be NaN
    } else {
      p = std::exp((static_cast<double>(logit) - max_logit) * inv_temperature);
    }
    probs_[i] = p;
    sum += p;
  }
  for (double& p : probs_) p /= sum;

  // Top-p: the smallest prefix (best first) whose probability reaches top_p.
  size_t keep = m;
  if (params_.top_p < 1) {
    double cumulative = 0;
    for (size_t i = 0; i < m; ++i) {
      cumulative += probs_[i];
      if (cumulative >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }

  // Inverse-CDF draw over the kept candidates (renormalized by scaling the target).
  double kept_mass = 0;
  for (size_t i = 0; i < keep; ++i) kept_mass += probs_[i];
  const double target = ToUnitInterval(bits) * kept_mass;
  double cumulative = 0;
  for (size_t i = 0; i < keep; ++i) {
    cumulative += probs_[i];
    if (target < cumulative) return scratch_[i].second;
  }
  // Rounding left the target at the very top: the last candidate with any mass.
  for (size_t i = keep; i-- > 0;) {
    if (probs_[i] > 0) return scratch_[i].second;
  }
  return scratch_[0].second;
}

}  // namespace tandem
