// Next-token sampling from logits: greedy, temperature, top-k, top-p, seeded by position.
//
// One rule everywhere (`tandem generate`, the cloud worker, the edge's fallback model):
// the draw for the token that follows a position depends only on the seed, that position
// and the logits, not on how many draws came before. So the same --seed gives the same
// text locally and split, and a session that is resumed, replayed, rewound or moved
// between the cloud and the device draws the same token at the same position.
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

// Built once per session (it keeps its scratch buffers); not thread-safe.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Picks the token that follows `position` from logits[vocab]. Order of filters: top-k,
  // temperature, softmax, top-p, then one 64-bit draw from mt19937_64 seeded with a mix
  // of (seed, position). Greedy ties resolve to the lowest id; so do ties at the top-k cut.
  // NaN logits count as -infinity (never picked unless every logit is NaN or -inf, when
  // the lowest id is returned); +infinity logits share all the probability. Returns -1
  // for empty logits.
  int32_t Sample(absl::Span<const float> logits, int32_t position);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;                             // reseeded for every draw
  std::vector<std::pair<float, int32_t>> scratch_;  // (logit, id) candidates
  std::vector<double> probs_;                       // parallel to scratch_
};

}  // namespace tandem
