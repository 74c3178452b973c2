#include "edge/generation.h"

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "common/util/enum_names.h"

namespace tandem::edge {

absl::Status SplitOptions::Validate() const {
  if (max_context < 0) return absl::InvalidArgumentError("the context size must be >= 0");
  if (prompt_chunk_positions < 1) {
    return absl::InvalidArgumentError("prompt chunks must hold at least one position");
  }
  if (step_timeout <= absl::ZeroDuration() || open_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeouts must be positive");
  }
  return absl::OkStatus();
}

namespace {

absl::StatusOr<std::vector<int32_t>> CheckPrompt(std::vector<int32_t> prompt, int32_t max_context) {
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (static_cast<int64_t>(prompt.size()) > max_context) {
    return absl::OutOfRangeError(absl::StrFormat(
        "the prompt is %d tokens, longer than the context size %d", prompt.size(), max_context));
  }
  return prompt;
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> TokenizePrompt(const Tokenizer& tokenizer,
                                                    std::string_view text, int32_t max_context) {
  return CheckPrompt(tokenizer.Encode(text, tokenizer.add_bos()), max_context);
}

absl::StatusOr<std::vector<int32_t>> TokenizePrompt(const Tokenizer& tokenizer,
                                                    const GenerationRequest& request,
                                                    int32_t max_context) {
  if (!request.prompt_tokens.empty()) return CheckPrompt(request.prompt_tokens, max_context);
  return TokenizePrompt(tokenizer, request.prompt, max_context);
}

absl::StatusOr<int32_t> SplitOptions::ContextSize(const LlamaHparams& hparams) const {
  const int32_t limit = hparams.context_length;
  const int32_t context = max_context == 0 ? limit : max_context;
  if (context > limit) {
    return absl::InvalidArgumentError(
        absl::StrFormat("context size %d exceeds the model's context length %d", context, limit));
  }
  return context;
}

std::string_view FinishReasonName(FinishReason reason) {
  static constexpr std::string_view kNames[] = {"stop", "length", "cancelled"};
  return EnumName(reason, kNames);
}

std::string NewSessionId() {
  thread_local absl::BitGen gen;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

std::string_view GenerationModeName(GenerationMode mode) {
  static constexpr std::string_view kNames[] = {"cloud", "fallback"};
  return EnumName(mode, kNames);
}

void AddToModeRuns(GenerationMode mode, std::vector<ModeRun>& runs) {
  if (!runs.empty() && runs.back().mode == mode) {
    ++runs.back().tokens;
    return;
  }
  const int32_t first = runs.empty() ? 0 : runs.back().first + runs.back().tokens;
  runs.push_back({.mode = mode, .first = first, .tokens = 1});
}

}  // namespace tandem::edge
