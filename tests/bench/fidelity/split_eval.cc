#include "tests/bench/fidelity/split_eval.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/util/status_macros.h"
#include "tests/util/split_pipeline.h"

namespace tandem {
namespace {

int32_t Argmax(absl::Span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// One generation's pipeline (tests/util/split_pipeline.h): layers [0, split) on the
// "edge", the codec at the cut, layers [split, N) and the head on the "cloud", each with its
// own KV cache. split == 0 is the unsplit model (no codec).
using Pipeline = testing_util::SplitPipeline;

// Runs task(i) for i in [0, n) spread over `pool`, each with a single-threaded pool of its
// own (results never depend on the thread count); the first error by index wins.
absl::Status ParallelTasks(ThreadPool& pool, int64_t n,
                           const std::function<absl::Status(int64_t, ThreadPool&)>& task) {
  std::vector<absl::Status> status(n);
  pool.ParallelFor(n, 1, [&](int64_t begin, int64_t end) {
    ThreadPool inline_pool(1);
    for (int64_t i = begin; i < end; ++i) status[i] = task(i, inline_pool);
  });
  for (const absl::Status& s : status) RETURN_IF_ERROR(s);
  return absl::OkStatus();
}

}  // namespace

double KlDivergence(absl::Span<const float> p_logits, absl::Span<const float> q_logits) {
  const double max_p = *std::max_element(p_logits.begin(), p_logits.end());
  const double max_q = *std::max_element(q_logits.begin(), q_logits.end());
  double zp = 0, zq = 0;
  for (size_t v = 0; v < p_logits.size(); ++v) {
    zp += std::exp(p_logits[v] - max_p);
    zq += std::exp(q_logits[v] - max_q);
  }
  const double log_zp = std::log(zp), log_zq = std::log(zq);
  double kl = 0;
  for (size_t v = 0; v < p_logits.size(); ++v) {
    const double lp = p_logits[v] - max_p - log_zp;
    const double lq = q_logits[v] - max_q - log_zq;
    kl += std::exp(lp) * (lp - lq);
  }
  return std::max(kl, 0.0);  // rounding can make a near-zero sum slightly negative
}

absl::StatusOr<std::unique_ptr<SplitEvaluator>> SplitEvaluator::Create(
    const LlamaModel& model, std::vector<std::vector<int32_t>> prompts, int32_t tokens,
    ThreadPool& pool) {
  const LlamaHparams& hp = model.hparams();
  if (tokens < 1) return absl::InvalidArgumentError("need at least one token per prompt");
  if (prompts.empty()) return absl::InvalidArgumentError("need at least one prompt");
  if (hp.n_layers < 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a %d-layer model has no split point", hp.n_layers));
  }
  std::unique_ptr<SplitEvaluator> eval(new SplitEvaluator(model, tokens, pool));
  eval->refs_.resize(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) return absl::InvalidArgumentError("empty prompt");
    if (static_cast<int64_t>(prompts[i].size()) + tokens > hp.context_length) {
      return absl::InvalidArgumentError(
          absl::StrFormat("prompt %d (%d tokens) + %d tokens exceeds the context length %d", i,
                          prompts[i].size(), tokens, hp.context_length));
    }
    eval->refs_[i].prompt = std::move(prompts[i]);
  }
  RETURN_IF_ERROR(ParallelTasks(pool, eval->refs_.size(), [&](int64_t i, ThreadPool& local) {
    Reference& ref = eval->refs_[i];
    const auto context = static_cast<int32_t>(ref.prompt.size()) + tokens;
    ASSIGN_OR_RETURN(Pipeline unsplit,
                     Pipeline::Create(model, 0, GetHiddenCodec(CodecKind::kF32), context));
    ref.logits.resize(static_cast<size_t>(tokens) * hp.n_vocab);
    for (int32_t t = 0; t < tokens; ++t) {
      absl::Span<float> logits =
          absl::MakeSpan(ref.logits).subspan(static_cast<size_t>(t) * hp.n_vocab, hp.n_vocab);
      RETURN_IF_ERROR(unsplit.Step(
          t == 0 ? absl::MakeConstSpan(ref.prompt) : absl::MakeConstSpan(&ref.generated.back(), 1),
          logits, local));
      ref.generated.push_back(Argmax(logits));
    }
    return absl::OkStatus();
  }));
  return eval;
}

absl::StatusOr<SplitEvaluator::PromptResult> SplitEvaluator::MeasurePrompt(
    const Reference& ref, int32_t split, const HiddenCodec& codec) const {
  const int32_t vocab = model_.hparams().n_vocab;
  const auto context = static_cast<int32_t>(ref.prompt.size()) + tokens_;
  ThreadPool pool(1);
  std::vector<float> logits(vocab);
  PromptResult result;

  // Teacher forcing: step t is fed the reference tokens, so it predicts generated[t].
  ASSIGN_OR_RETURN(Pipeline forced, Pipeline::Create(model_, split, codec, context));
  for (int32_t t = 0; t < tokens_; ++t) {
    RETURN_IF_ERROR(forced.Step(
        t == 0 ? absl::MakeConstSpan(ref.prompt) : absl::MakeConstSpan(&ref.generated[t - 1], 1),
        absl::MakeSpan(logits), pool));
    const absl::Span<const float> want =
        absl::MakeConstSpan(ref.logits).subspan(static_cast<size_t>(t) * vocab, vocab);
    result.agreeing += Argmax(logits) == ref.generated[t] ? 1 : 0;
    const double kl = KlDivergence(want, logits);
    result.kl_sum += kl;
    result.kl_max = std::max(result.kl_max, kl);
    result.bit_exact &= std::equal(want.begin(), want.end(), logits.begin());
  }

  // Free running: the split pipeline's own greedy tokens, up to the first difference.
  ASSIGN_OR_RETURN(Pipeline free, Pipeline::Create(model_, split, codec, context));
  int32_t token = -1;
  for (int32_t t = 0; t < tokens_; ++t) {
    RETURN_IF_ERROR(
        free.Step(t == 0 ? absl::MakeConstSpan(ref.prompt) : absl::MakeConstSpan(&token, 1),
                  absl::MakeSpan(logits), pool));
    token = Argmax(logits);
    if (token != ref.generated[t]) break;
    ++result.tokens_to_diverge;
  }
  return result;
}

absl::StatusOr<FidelityRow> SplitEvaluator::Measure(int32_t split, const HiddenCodec& codec,
                                                    std::string name) const {
  const LlamaHparams& hp = model_.hparams();
  if (split < 1 || split >= hp.n_layers) {
    return absl::InvalidArgumentError(
        absl::StrFormat("split %d outside [1, %d]", split, hp.n_layers - 1));
  }
  RETURN_IF_ERROR(codec.ValidateDim(hp.dim));
  std::vector<PromptResult> results(refs_.size());
  RETURN_IF_ERROR(ParallelTasks(pool_, refs_.size(), [&](int64_t i, ThreadPool&) {
    ASSIGN_OR_RETURN(results[i], MeasurePrompt(refs_[i], split, codec));
    return absl::OkStatus();
  }));

  FidelityRow row{.split = split,
                  .codec = std::move(name),
                  .prompts = static_cast<int32_t>(refs_.size()),
                  .positions = static_cast<int32_t>(refs_.size()) * tokens_,
                  .bytes_per_token = codec.EncodedSize(1, hp.dim)};
  int64_t agreeing = 0, identical = 0, to_diverge = 0;
  double kl_sum = 0;
  for (const PromptResult& r : results) {  // in prompt order: deterministic sums
    agreeing += r.agreeing;
    kl_sum += r.kl_sum;
    row.max_kl = std::max(row.max_kl, r.kl_max);
    row.bit_exact &= r.bit_exact;
    identical += r.tokens_to_diverge == tokens_ ? 1 : 0;
    to_diverge += r.tokens_to_diverge;
  }
  row.agreement = static_cast<double>(agreeing) / row.positions;
  row.mean_kl = kl_sum / row.positions;
  row.identical = static_cast<double>(identical) / row.prompts;
  row.mean_tokens_to_diverge = static_cast<double>(to_diverge) / row.prompts;
  row.bits_per_value = 8.0 * static_cast<double>(row.bytes_per_token) / hp.dim;
  return row;
}

}  // namespace tandem
