#include "common/model/local_session.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/util/status_macros.h"

namespace tandem {

absl::StatusOr<std::unique_ptr<LocalSession>> LocalSession::Create(const LlamaModel& model,
                                                                   int32_t max_context,
                                                                   ThreadPool& pool,
                                                                   int32_t batch_size) {
  if (!model.has_embedding() || !model.has_head() || model.layer_begin() != 0 ||
      model.layer_end() != model.hparams().n_layers) {
    return absl::FailedPreconditionError("a local session needs the whole model loaded");
  }
  if (batch_size < 1) return absl::InvalidArgumentError("batch size must be >= 1");
  ASSIGN_OR_RETURN(auto runner,
                   LayerRunner::Create(model, 0, model.hparams().n_layers, max_context));
  return std::unique_ptr<LocalSession>(
      new LocalSession(model, std::move(runner), pool, batch_size));
}

absl::StatusOr<absl::Span<const float>> LocalSession::Feed(absl::Span<const int32_t> tokens,
                                                           std::vector<float>* all_logits) {
  const LlamaHparams& hp = model_.hparams();
  if (tokens.empty()) return absl::InvalidArgumentError("no tokens to run");
  const int64_t end = static_cast<int64_t>(position()) + tokens.size();
  if (end > max_context()) {
    return absl::OutOfRangeError(
        absl::StrFormat("%d tokens at position %d do not fit the context size %d", tokens.size(),
                        position(), max_context()));
  }
  if (all_logits != nullptr) all_logits->resize(tokens.size() * hp.n_vocab);
  logits_.resize(hp.n_vocab);
  for (size_t start = 0; start < tokens.size(); start += batch_size_) {
    const int32_t n = static_cast<int32_t>(std::min<size_t>(batch_size_, tokens.size() - start));
    hidden_.resize(static_cast<size_t>(n) * hp.dim);
    absl::Span<float> hidden(hidden_);
    RETURN_IF_ERROR(Embed(model_, tokens.subspan(start, n), hidden));
    RETURN_IF_ERROR(runner_->Forward(hidden, n, position(), pool_));
    if (all_logits != nullptr) {
      RETURN_IF_ERROR(Head(model_, hidden,
                           absl::MakeSpan(all_logits->data() + start * hp.n_vocab,
                                          static_cast<size_t>(n) * hp.n_vocab),
                           pool_));
    }
  }
  // Logits of the last position only (the head is the costliest matmul of a decode step).
  if (all_logits != nullptr) {
    std::copy(all_logits->end() - hp.n_vocab, all_logits->end(), logits_.begin());
  } else {
    absl::Span<const float> last(hidden_.data() + hidden_.size() - hp.dim, hp.dim);
    RETURN_IF_ERROR(Head(model_, last, absl::MakeSpan(logits_), pool_));
  }
  return absl::Span<const float>(logits_);
}

}  // namespace tandem
