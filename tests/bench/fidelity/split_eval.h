// Fidelity of the split pipeline against the unsplit model, for one split point and one
// hidden-state codec. The split pipeline does what edge and cloud do: the prompt goes
// through layers [0, K) as one chunk, then one position per generated token; every chunk
// is encoded and decoded at the cut, so the cloud's KV cache for [K, N) is built from
// decoded hidden states only; the head runs on the last position of each chunk.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/codec/hidden_codec.h"
#include "common/model/llama_model.h"
#include "common/util/thread_pool.h"

namespace tandem {

struct FidelityRow {
  int32_t split = 0;  // K: layers [0, K) before the cut
  std::string codec;
  int32_t prompts = 0;
  int32_t positions = 0;  // teacher-forced positions compared (prompts x tokens)
  // Teacher forcing (the split pipeline is fed the unsplit model's greedy tokens):
  double agreement = 0;   // fraction of positions whose argmax is the reference token
  double mean_kl = 0;     // mean KL(unsplit || split) of next-token distributions, nats
  double max_kl = 0;      // largest KL at any position, nats
  bool bit_exact = true;  // every logit identical to the unsplit model's
  // Free running (the split pipeline generates greedily on its own):
  double identical = 0;               // fraction of prompts whose continuation is identical
  double mean_tokens_to_diverge = 0;  // tokens before the first difference (tokens if none)
  // At the cut:
  size_t bytes_per_token = 0;  // EncodedSize(1, dim)
  double bits_per_value = 0;
};

class SplitEvaluator {
 public:
  // Generates the unsplit model's greedy continuation of each prompt (`tokens` tokens,
  // end-of-sequence ignored) and its next-token logits. `prompts` are token ids, BOS
  // included. Work is spread over `pool` (one prompt or split/codec case per task).
  static absl::StatusOr<std::unique_ptr<SplitEvaluator>> Create(
      const LlamaModel& model, std::vector<std::vector<int32_t>> prompts, int32_t tokens,
      ThreadPool& pool);

  // Measures the split at `split` (in [1, n_layers - 1]) with `codec` at the cut.
  // `name` labels the row.
  absl::StatusOr<FidelityRow> Measure(int32_t split, const HiddenCodec& codec,
                                      std::string name) const;

  int32_t n_layers() const { return model_.hparams().n_layers; }

 private:
  struct Reference {
    std::vector<int32_t> prompt;     // BOS + prompt tokens
    std::vector<int32_t> generated;  // [tokens] greedy continuation
    std::vector<float> logits;       // [tokens, n_vocab]: logits[i] predicts generated[i]
  };
  // Per-prompt results of one split/codec case.
  struct PromptResult {
    int32_t agreeing = 0;
    double kl_sum = 0;
    double kl_max = 0;
    bool bit_exact = true;
    int32_t tokens_to_diverge = 0;
  };

  SplitEvaluator(const LlamaModel& model, int32_t tokens, ThreadPool& pool)
      : model_(model), tokens_(tokens), pool_(pool) {}
  absl::StatusOr<PromptResult> MeasurePrompt(const Reference& ref, int32_t split,
                                             const HiddenCodec& codec) const;

  const LlamaModel& model_;
  int32_t tokens_;
  ThreadPool& pool_;
  std::vector<Reference> refs_;
};

// KL(p || q) in nats of the softmax distributions of two logit rows of equal length.
double KlDivergence(absl::Span<const float> p_logits, absl::Span<const float> q_logits);

}  // namespace tandem
