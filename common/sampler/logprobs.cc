#include "common/sampler/logprobs.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tandem {

float LogprobOf(absl::Span<const float> logits, int32_t token, int32_t k,
                std::vector<TokenLogprob>* top) {
  // log p_i = l_i - (max + log sum exp(l_j - max)).
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max);
  const float log_z = max + static_cast<float>(std::log(sum));
  if (top != nullptr) {
    top->clear();
    const int32_t n = static_cast<int32_t>(logits.size());
    k = std::clamp(k, 0, n);
    std::vector<int32_t> ids(n);
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int32_t i = 0; i < k; ++i) top->push_back({ids[i], logits[ids[i]] - log_z});
  }
  return logits[token] - log_z;
}

}  // namespace tandem
