#include "edge/split_generator.h"

#include <algorithm>
#include <limits>

#include "absl/cleanup/cleanup.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
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

absl::StatusOr<std::unique_ptr<SplitGenerator>> SplitGenerator::Create(
    const EdgeModel& model, CloudLink& link, ThreadPool& pool, const Clock& clock,
    EdgeMetrics& metrics, const SplitOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  RETURN_IF_ERROR(ValidateCodecDim(options.codec, model.hparams().dim));
  const int32_t limit = model.hparams().context_length;
  const int32_t context = options.max_context == 0 ? limit : options.max_context;
  if (context > limit) {
    return absl::InvalidArgumentError(
        absl::StrFormat("context size %d exceeds the model's context length %d", context, limit));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<LayerRunner> runner,
                   LayerRunner::Create(model.model(), 0, model.split(), context));
  return std::unique_ptr<SplitGenerator>(
      new SplitGenerator(model, link, pool, clock, metrics, options, std::move(runner)));
}

SplitGenerator::SplitGenerator(const EdgeModel& model, CloudLink& link, ThreadPool& pool,
                               const Clock& clock, EdgeMetrics& metrics,
                               const SplitOptions& options, std::unique_ptr<LayerRunner> runner)
    : model_(model),
      link_(link),
      pool_(pool),
      clock_(clock),
      metrics_(metrics),
      options_(options),
      runner_(std::move(runner)) {}

absl::StatusOr<GenerationResult> SplitGenerator::Generate(const GenerationRequest& request,
                                                          TokenSink sink) {
  RETURN_IF_ERROR(request.sampling.Validate());
  const Tokenizer& tokenizer = model_.tokenizer();
  std::vector<int32_t> prompt = tokenizer.Encode(request.prompt, tokenizer.add_bos());
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (static_cast<int64_t>(prompt.size()) > max_context()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "the prompt is %d tokens, longer than the context size %d", prompt.size(), max_context()));
  }
  metrics_.SessionStarted();
  absl::Cleanup ended = [this] { metrics_.SessionEnded(); };
  absl::StatusOr<GenerationResult> result = GenerateTokens(prompt, request, sink);
  if (stream_ != nullptr) {
    const LinkBytes bytes = stream_->bytes();
    // A finished session is closed for good; a failed one is dropped (cancelled), which
    // leaves it resumable on the worker for its idle timeout.
    if (result.ok()) {
      absl::Status closed = stream_->Close(clock_.Now() + options_.step_timeout);
      if (!closed.ok()) metrics_.AddError(closed.code());
    }
    stream_.reset();
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
  runner_->Truncate(0);
  if (max_tokens == 0) return result;  // nothing to ask the worker for

  RETURN_IF_ERROR(OpenSession(request.sampling));
  ASSIGN_OR_RETURN(int32_t token, Step(prompt));
  while (true) {
    if (token == tokenizer.eos_id()) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    const std::string piece = tokenizer.TokenToPiece(token);
    const int32_t position = static_cast<int32_t>(context_.size());
    context_.push_back(token);
    ++result.completion_tokens;
    metrics_.AddToken();
    if (!sink(GeneratedToken{.id = token, .position = position, .piece = piece})) {
      result.finish_reason = FinishReason::kCancelled;
      break;
    }
    // The last token of a full context is sampled but never run (as `tandem generate`).
    if (result.completion_tokens >= max_tokens || runner_->num_cached() >= max_context()) {
      result.finish_reason = FinishReason::kLength;
      break;
    }
    const absl::Time start = clock_.Now();
    const LinkBytes before = stream_->bytes();
    ASSIGN_OR_RETURN(token, Step({&token, 1}));
    const LinkBytes after = stream_->bytes();
    metrics_.ObserveStep(absl::ToDoubleSeconds(clock_.Now() - start));
    metrics_.ObserveBytesPerToken(after.sent - before.sent + after.received - before.received);
  }
  return result;
}

absl::Status SplitGenerator::OpenSession(const SamplingParams& sampling) {
  const LlamaHparams& hp = model_.hparams();
  SessionHello hello{.session_id = NewSessionId(),
                     .model_id = model_.model().identity(),
                     .n_layers = hp.n_layers,
                     .split_layer = model_.split(),
                     .hidden_dim = hp.dim,
                     .codec = options_.codec,
                     .sampling = sampling,
                     .resume_position = 0,
                     .max_context = max_context()};
  ASSIGN_OR_RETURN(stream_, link_.Open(hello, clock_.Now() + options_.open_timeout));
  const SessionReady& ready = stream_->ready();
  if (ready.cached_positions != 0) {
    return absl::InternalError(absl::StrFormat(
        "the worker claims %d cached positions for a new session", ready.cached_positions));
  }
  if (!ready.codecs.empty() &&
      std::find(ready.codecs.begin(), ready.codecs.end(), options_.codec) == ready.codecs.end()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the worker does not accept the %s codec", CodecKindName(options_.codec)));
  }
  return absl::OkStatus();
}

int32_t SplitGenerator::ChunkPositions() const {
  const SessionReady& ready = stream_->ready();
  int64_t n = options_.prompt_chunk_positions;
  if (ready.max_chunk_positions > 0) n = std::min<int64_t>(n, ready.max_chunk_positions);
  if (ready.max_chunk_bytes > 0) {
    const int64_t row_bytes =
        static_cast<int64_t>(EncodedSize(options_.codec, /*n=*/1, model_.hparams().dim));
    n = std::min<int64_t>(n, ready.max_chunk_bytes / row_bytes);
  }
  return static_cast<int32_t>(std::max<int64_t>(n, 1));
}

absl::StatusOr<int32_t> SplitGenerator::Step(absl::Span<const int32_t> tokens) {
  const int32_t dim = model_.hparams().dim;
  const int32_t chunk = ChunkPositions();
  int32_t chunks_sent = 0;
  for (size_t start = 0; start < tokens.size(); start += chunk) {
    const int32_t n = static_cast<int32_t>(std::min<size_t>(chunk, tokens.size() - start));
    const int32_t position = runner_->num_cached();
    hidden_.resize(static_cast<size_t>(n) * dim);
    absl::Span<float> hidden(hidden_);  // [n, dim]
    RETURN_IF_ERROR(Embed(model_.model(), tokens.subspan(start, n), hidden));
    RETURN_IF_ERROR(runner_->Forward(hidden, n, position, pool_));  // layers [0, K)
    HiddenChunk message{.start_position = position,
                        .num_positions = n,
                        .codec = options_.codec,
                        .sample = start + n == tokens.size()};
    RETURN_IF_ERROR(EncodeHidden(options_.codec, hidden, n, dim, &message.payload));
    RETURN_IF_ERROR(stream_->Send(message, clock_.Now() + options_.step_timeout));
    ++chunks_sent;
  }
  // The worker may still be running earlier chunks: allow a step per chunk.
  ASSIGN_OR_RETURN(SampledToken sampled,
                   stream_->Receive(clock_.Now() + options_.step_timeout * chunks_sent));
  const int32_t last = runner_->num_cached() - 1;
  if (sampled.position != last) {
    return absl::InternalError(absl::StrFormat("the worker sampled after position %d, expected %d",
                                               sampled.position, last));
  }
  if (sampled.token_id < 0 || sampled.token_id >= model_.hparams().n_vocab) {
    return absl::InternalError(
        absl::StrFormat("the worker sent token id %d, outside the vocabulary", sampled.token_id));
  }
  return sampled.token_id;
}

}  // namespace tandem::edge
