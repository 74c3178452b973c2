#include "common/sampler/position_sampling.h"

namespace tandem {
namespace {

// SplitMix64's finalizer: a bijective mix so that nearby (seed, position) pairs give
// unrelated generator seeds.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

int32_t SampleAt(const SamplingParams& params, int32_t position, absl::Span<const float> logits) {
  SamplingParams at = params;
  at.seed = Mix(params.seed ^ Mix(static_cast<uint64_t>(position)));
  Sampler sampler(at);
  return sampler.Sample(logits);
}

}  // namespace tandem
