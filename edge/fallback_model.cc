#include "edge/fallback_model.h"

#include "absl/strings/str_format.h"
#include "common/sampler/logprobs.h"
#include "common/util/status_macros.h"

namespace tandem::edge {

absl::Status CheckSameVocabulary(const Tokenizer& main, const Tokenizer& fallback) {
  const Vocabulary& a = main.vocabulary();
  const Vocabulary& b = fallback.vocabulary();
  if (a.pieces.size() != b.pieces.size()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the fallback model has a vocabulary of %d tokens, the main model %d; "
                        "the fallback must share the main model's tokenizer",
                        b.pieces.size(), a.pieces.size()));
  }
  for (size_t i = 0; i < a.pieces.size(); ++i) {
    if (a.pieces[i] != b.pieces[i] || a.types[i] != b.types[i] || a.scores[i] != b.scores[i]) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the fallback model's vocabulary differs from the main model's at token %d (\"%s\" "
          "vs \"%s\"); the fallback must share the main model's tokenizer",
          i, b.pieces[i], a.pieces[i]));
    }
  }
  if (a.bos_id != b.bos_id || a.eos_id != b.eos_id || a.unk_id != b.unk_id ||
      a.add_bos != b.add_bos || a.add_space_prefix != b.add_space_prefix || a.kind != b.kind ||
      a.pre != b.pre || a.merges != b.merges) {
    return absl::FailedPreconditionError(
        "the fallback model's tokenizer settings (BOS/EOS/unknown ids, BOS and space prefix, "
        "BPE pre-tokenizer and merges) differ from the main model's");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FallbackModel>> FallbackModel::Load(const std::string& path,
                                                                   const Tokenizer& main) {
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LlamaModel::Load(path));
  if (!model->has_embedding() || !model->has_head() || model->layer_begin() != 0 ||
      model->layer_end() != model->hparams().n_layers) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: the fallback must be a complete model (embedding, every layer and the head), "
        "not a shard",
        path));
  }
  ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromGguf(model->gguf()));
  if (absl::Status same = CheckSameVocabulary(main, tokenizer); !same.ok()) {
    return absl::FailedPreconditionError(absl::StrFormat("%s: %s", path, same.message()));
  }
  std::string name = ModelName(model->gguf(), path);
  return std::unique_ptr<FallbackModel>(new FallbackModel(std::move(model), std::move(name)));
}

absl::StatusOr<std::unique_ptr<FallbackSession>> FallbackSession::Create(const FallbackModel& model,
                                                                         int32_t max_context,
                                                                         ThreadPool& pool) {
  if (max_context > model.context_length()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the fallback model's context length is %d positions, shorter than the %d a "
        "generation may use; lower the context size",
        model.context_length(), max_context));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<LocalSession> session,
                   LocalSession::Create(model.model(), max_context, pool));
  return std::unique_ptr<FallbackSession>(new FallbackSession(std::move(session)));
}

absl::Status FallbackSession::WarmUp() {
  const int32_t token = 0;
  RETURN_IF_ERROR(session_->Feed({&token, 1}).status());
  KeepAtMost(0);
  return absl::OkStatus();
}

void FallbackSession::KeepAtMost(int32_t n) {
  if (n < window_start_) {
    session_->Rewind(0);
    window_start_ = 0;
    return;
  }
  session_->Rewind(std::min(n - window_start_, session_->position()));
}

absl::StatusOr<int32_t> FallbackSession::CatchUp(absl::Span<const int32_t> context,
                                                 int32_t max_catch_up, int32_t count) {
  const int32_t n = static_cast<int32_t>(context.size());
  if (n == 0) return absl::InvalidArgumentError("draft: empty context");
  KeepAtMost(n - 1);
  // Restart as a window when catching up would cost more than the window, or the drafts
  // would not fit behind the cache.
  const int32_t room = session_->max_context() - count;
  if (n - 1 - context_end() > max_catch_up || n - window_start_ > room) {
    window_start_ = std::max(0, n - 1 - std::min(max_catch_up, room - 1));
    session_->Rewind(0);
  }
  const int32_t from = context_end();
  if (from >= n - 1) return 0;
  RETURN_IF_ERROR(session_->Feed(context.subspan(from, n - 1 - from)).status());
  return n - 1 - from;
}

absl::StatusOr<std::vector<int32_t>> FallbackSession::Draft(absl::Span<const int32_t> context,
                                                            int32_t count) {
  const int32_t n = static_cast<int32_t>(context.size());
  if (n == 0) return absl::InvalidArgumentError("draft: empty context");
  if (context_end() >= n) KeepAtMost(n - 1);
  std::vector<int32_t> drafts;
  drafts.reserve(count);
  // The first feed runs what the session lacks of the context, each later one the draft
  // before it.
  absl::Span<const int32_t> feed = context.subspan(context_end());
  for (int32_t i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(absl::Span<const float> logits, session_->Feed(feed));
    drafts.push_back(sampler_.Sample(logits, n - 1 + i));
    feed = absl::MakeConstSpan(&drafts.back(), 1);
  }
  return drafts;
}

absl::StatusOr<SampledToken> FallbackSession::Next(absl::Span<const int32_t> context) {
  const int32_t n = static_cast<int32_t>(context.size());
  if (n == 0) return absl::InvalidArgumentError("fallback: empty context");
  // The fallback's tokens must be exactly the worker's: a drafting window is dropped.
  if (window_start_ > 0) KeepAtMost(0);
  // Positions it has seen are the same tokens (a context only grows within a generation);
  // keep at most n - 1 of them so that the last position is run and yields logits.
  if (session_->position() >= n) session_->Rewind(n - 1);
  ASSIGN_OR_RETURN(absl::Span<const float> logits,
                   session_->Feed(context.subspan(session_->position())));
  SampledToken out{.position = n - 1, .token_id = sampler_.Sample(logits, n - 1)};
  if (top_logprobs_ >= 0) {
    out.logprob = LogprobOf(logits, out.token_id, top_logprobs_, &out.top_logprobs);
  }
  return out;
}

}  // namespace tandem::edge
