// Next-token sampling from logits: greedy, temperature, top-k, top-p, seeded.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace tandem {

struct SamplingParams {
  float temperature = 0.8f;  // <= 0 means greedy (argmax)
  int32_t top_k = 40;        // <= 0 means the whole vocabulary
  float top_p = 0.95f;       // 1 disables nucleus filtering
  uint64_t seed = 0;

  // InvalidArgument for NaN/infinite/negative temperature, top_p outside (0, 1].
  absl::Status Validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Picks a token id from logits[vocab]. Order of filters: top-k, temperature, softmax,
  // top-p, then a draw from the mt19937_64 stream seeded with `seed` (reproducible).
  // Greedy ties resolve to the lowest id; so do ties at the top-k cut.
  // Every non-greedy call consumes exactly one 64-bit value of the stream, so the n-th
  // sampled token depends only on (seed, n, logits).
  // NaN logits count as -infinity (never picked unless every logit is NaN or -inf, when
  // the lowest id is returned); +infinity logits share all the probability. Returns -1
  // for empty logits.
  int32_t Sample(absl::Span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> scratch_;  // (logit, id) candidates
  std::vector<double> probs_;                       // parallel to scratch_
};

}  // namespace tandem
