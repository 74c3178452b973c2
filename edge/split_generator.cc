#include "edge/split_generator.h"

#include <algorithm>
#include <limits>

#include "absl/cleanup/cleanup.h"
#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "common/codec/hidden_codec.h"
#include "common/util/status_macros.h"

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
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string NewSessionId() {
  thread_local absl::BitGen gen;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

std::string_view GenerationModeName(GenerationMode mode) {
  switch (mode) {
    case GenerationMode::kCloud:
      return "cloud";
    case GenerationMode::kFallback:
      return "fallback";
  }
  return "unknown";
}

void AddToModeRuns(GenerationMode mode, std::vector<ModeRun>& runs) {
  if (!runs.empty() && runs.back().mode == mode) {
    ++runs.back().tokens;
    return;
  }
  const int32_t first = runs.empty() ? 0 : runs.back().first + runs.back().tokens;
  runs.push_back({.mode = mode, .first = first, .tokens = 1});
}

absl::StatusOr<std::unique_ptr<SplitGenerator>> SplitGenerator::Create(
    const EdgeModel& model, CloudLink& link, ThreadPool& pool, const Clock& clock,
    EdgeMetrics& metrics, const SplitOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  RETURN_IF_ERROR(ValidateCodecDim(options.codec, model.hparams().dim));
  ASSIGN_OR_RETURN(const int32_t context, options.ContextSize(model.hparams()));
  ASSIGN_OR_RETURN(std::unique_ptr<CloudSession> cloud,
                   CloudSession::Create(model, pool, clock, options.codec, context,
                                        options.prompt_chunk_positions));
  return std::unique_ptr<SplitGenerator>(
      new SplitGenerator(model, link, clock, metrics, options, std::move(cloud)));
}

SplitGenerator::SplitGenerator(const EdgeModel& model, CloudLink& link, const Clock& clock,
                               EdgeMetrics& metrics, const SplitOptions& options,
                               std::unique_ptr<CloudSession> cloud)
    : model_(model),
      link_(link),
      clock_(clock),
      metrics_(metrics),
      options_(options),
      cloud_(std::move(cloud)) {}

absl::StatusOr<GenerationResult> SplitGenerator::Generate(const GenerationRequest& request,
                                                          TokenSink sink) {
  RETURN_IF_ERROR(request.sampling.Validate());
  ASSIGN_OR_RETURN(std::vector<int32_t> prompt,
                   TokenizePrompt(model_.tokenizer(), request, max_context()));
  metrics_.SessionStarted();
  absl::Cleanup ended = [this] { metrics_.SessionEnded(); };
  absl::StatusOr<GenerationResult> result = GenerateTokens(prompt, request, sink);
  if (cloud_->connected()) {
    // A finished session is closed for good; a failed one is dropped (cancelled), which
    // leaves it resumable on the worker for its idle timeout.
    LinkBytes bytes;
    if (result.ok()) {
      absl::Status closed;
      bytes = cloud_->Close(clock_.Now() + options_.step_timeout, &closed);
      if (!closed.ok()) metrics_.AddError(closed.code());
    } else {
      bytes = cloud_->Drop();
    }
    metrics_.AddLinkBytes(bytes.sent, bytes.received);
  }
  if (!result.ok()) metrics_.AddError(result.status().code());
  return result;
}

absl::StatusOr<GenerationResult> SplitGenerator::GenerateTokens(absl::Span<const int32_t> prompt,
                                                                const GenerationRequest& request,
                                                                TokenSink sink) {
  const Tokenizer& tokenizer = model_.tokenizer();
  GenerationResult result{.prompt_tokens = static_cast<int32_t>(prompt.size())};
  const int32_t max_tokens =
      request.max_tokens < 0 ? std::numeric_limits<int32_t>::max() : request.max_tokens;
  context_.assign(prompt.begin(), prompt.end());
  cloud_->Reset();
  if (max_tokens == 0) return result;  // nothing to ask the worker for

  RETURN_IF_ERROR(OpenSession(request.sampling));
  ASSIGN_OR_RETURN(int32_t token, cloud_->Advance(context_, options_.step_timeout));
  while (true) {
    if (tokenizer.IsEog(token)) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    const std::string piece = tokenizer.TokenToPiece(token);
    const int32_t position = static_cast<int32_t>(context_.size());
    context_.push_back(token);
    ++result.completion_tokens;
    AddToModeRuns(GenerationMode::kCloud, result.modes);
    metrics_.AddToken();
    if (!sink(GeneratedToken{.id = token, .position = position, .piece = piece})) {
      result.finish_reason = FinishReason::kCancelled;
      break;
    }
    // The last token of a full context is sampled but never run (as `tandem generate`).
    if (result.completion_tokens >= max_tokens || position >= max_context()) {
      result.finish_reason = FinishReason::kLength;
      break;
    }
    const absl::Time start = clock_.Now();
    const LinkBytes before = cloud_->bytes();
    ASSIGN_OR_RETURN(token, cloud_->Advance(context_, options_.step_timeout));
    const LinkBytes after = cloud_->bytes();
    metrics_.ObserveStep(absl::ToDoubleSeconds(clock_.Now() - start));
    metrics_.ObserveBytesPerToken(after.sent - before.sent + after.received - before.received);
  }
  return result;
}

absl::Status SplitGenerator::OpenSession(const SamplingParams& sampling) {
  const SessionHello hello = cloud_->Hello(NewSessionId(), sampling, /*context_size=*/0);
  ASSIGN_OR_RETURN(std::unique_ptr<CloudStream> stream,
                   link_.Open(hello, clock_.Now() + options_.open_timeout));
  return cloud_->Attach(std::move(stream), hello).status();
}

}  // namespace tandem::edge
