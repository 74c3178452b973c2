// The oracle of the split tests: what the unsplit model generates (as `tandem generate`
// does), and with which logprobs, one implementation for every test that compares a split
// run with it.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/model/llama_model.h"
#include "common/model/local_session.h"
#include "common/sampler/logprobs.h"
#include "common/sampler/sampler.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/thread_pool.h"

namespace tandem::testing_util {

// Token ids of `model`'s continuation of `prompt` (BOS as the tokenizer wants), drawn with
// the position-keyed Sampler: up to `n` tokens, stopping at end-of-sequence or at the
// context end (the last token of a full context of `max_context` positions is sampled but
// never run). A model error ends the list early (the comparison then fails).
inline std::vector<int32_t> UnsplitTokens(const LlamaModel& model, const Tokenizer& tokenizer,
                                          std::string_view prompt, int32_t n, int32_t max_context,
                                          const SamplingParams& sampling = {.temperature = 0}) {
  ThreadPool pool(1);
  auto session = LocalSession::Create(model, max_context, pool);
  if (!session.ok()) return {};
  std::vector<int32_t> context = tokenizer.Encode(prompt, tokenizer.add_bos());
  auto logits = (*session)->Feed(context);
  Sampler sampler(sampling);
  std::vector<int32_t> out;
  while (static_cast<int32_t>(out.size()) < n) {
    if (!logits.ok()) break;
    const int32_t token = sampler.Sample(*logits, (*session)->position() - 1);
    if (tokenizer.IsEog(token)) break;
    out.push_back(token);
    if ((*session)->position() >= max_context) break;
    logits = (*session)->Feed({&token, 1});
  }
  return out;
}

// A token of the unsplit continuation with its LogprobOf (common/sampler/logprobs.h) on
// the unsplit model's logits: what any side that produced it must report.
struct UnsplitStep {
  int32_t token = 0;
  float logprob = 0;
  std::vector<TokenLogprob> top;  // the k most likely, most likely first
};

// As UnsplitTokens, from the prompt's token ids, with each token's logprob and `k`
// alternatives.
inline std::vector<UnsplitStep> UnsplitLogprobs(
    const LlamaModel& model, const Tokenizer& tokenizer, std::vector<int32_t> prompt, int32_t n,
    int32_t max_context, int32_t k, const SamplingParams& sampling = {.temperature = 0}) {
  ThreadPool pool(1);
  auto session = LocalSession::Create(model, max_context, pool);
  if (!session.ok()) return {};
  auto logits = (*session)->Feed(prompt);
  Sampler sampler(sampling);
  std::vector<UnsplitStep> out;
  while (static_cast<int32_t>(out.size()) < n) {
    if (!logits.ok()) break;
    UnsplitStep step{.token = sampler.Sample(*logits, (*session)->position() - 1)};
    if (tokenizer.IsEog(step.token)) break;
    step.logprob = LogprobOf(*logits, step.token, k, &step.top);
    out.push_back(std::move(step));
    if ((*session)->position() >= max_context) break;
    logits = (*session)->Feed({&out.back().token, 1});
  }
  return out;
}

}  // namespace tandem::testing_util
