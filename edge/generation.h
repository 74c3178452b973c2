// What a generation on the edge is: its request, options, the tokens it streams and its
// result, shared by the generator (resilient_generator.h), the slots (generation_pool.h)
// and the HTTP API. No I/O here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/codec/codec_kind.h"
#include "common/model/llama_model.h"
#include "common/sampler/logprobs.h"
#include "common/sampler/sampler.h"
#include "common/tokenizer/tokenizer.h"
#include "edge/cloud_link.h"

namespace tandem::edge {

struct SplitOptions {
  CodecKind codec = CodecKind::kQ8;
  int32_t max_context = 0;              // positions (prompt + generated); 0: the model's
  int32_t prompt_chunk_positions = 64;  // upper bound; the worker's limits may lower it
  absl::Duration step_timeout = absl::Seconds(10);  // per token (and per prompt chunk)
  absl::Duration open_timeout = absl::Seconds(10);  // Hello -> Ready
  // Per-token latency target declared to the worker (InfiniteDuration: none).
  absl::Duration token_deadline = absl::InfiniteDuration();

  // InvalidArgument for values out of range.
  absl::Status Validate() const;
  // Positions a generation may use: max_context, or the model's context length if 0;
  // InvalidArgument beyond the model's.
  absl::StatusOr<int32_t> ContextSize(const LlamaHparams& hparams) const;
};

struct GenerationRequest {
  std::string prompt;  // plain text: typed "<s>" is text, never a control token
  // When not empty, the prompt as token ids instead (a chat rendered by its template).
  std::vector<int32_t> prompt_tokens;
  int32_t max_tokens = 16;  // < 0: until EOS or the context end
  SamplingParams sampling;
  // Set: each token comes with its log probability and this many most likely alternatives
  // (0..kMaxTopLogprobs), whichever model produced it. Unset: no logprobs (they cost a
  // pass over the vocabulary per token).
  std::optional<int32_t> top_logprobs;
};

// Upper bound for GenerationRequest::top_logprobs (OpenAI's for chat top_logprobs).
inline constexpr int32_t kMaxTopLogprobs = 20;

// Which model produced a token: the split model (edge layers + cloud worker) or the
// on-device fallback model (see resilient_generator.h).
enum class GenerationMode {
  kCloud,
  kFallback,
};

// A run of consecutive completion tokens produced in one mode.
struct ModeRun {
  GenerationMode mode = GenerationMode::kCloud;
  int32_t first = 0;   // index of the run's first completion token (0 = the first generated)
  int32_t tokens = 0;  // length of the run
};

enum class FinishReason {
  kStop,       // end-of-sequence token
  kLength,     // max_tokens or the context end
  kCancelled,  // the caller's sink said stop
};

struct GenerationResult {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  FinishReason finish_reason = FinishReason::kLength;
  std::vector<ModeRun> modes;  // which mode produced which completion tokens, in order
  // Speculative decoding: tokens the draft model guessed, and those the worker accepted.
  int32_t drafted_tokens = 0;
  int32_t accepted_drafts = 0;
};

// A token's log probabilities: natural log, the model's unfiltered distribution at
// temperature 1 (LogprobOf, common/sampler/logprobs.h), as the model that produced the
// token computed them.
struct TokenLogprobs {
  float logprob = 0;              // of the token itself
  std::vector<TokenLogprob> top;  // the most likely tokens, most likely first
};

struct GeneratedToken {
  int32_t id = 0;
  int32_t position = 0;    // where the token sits in the context
  std::string_view piece;  // its bytes; may be part of a UTF-8 sequence (byte tokens)
  GenerationMode mode = GenerationMode::kCloud;
  // Set when the request asked for logprobs (top holds request.top_logprobs entries).
  const TokenLogprobs* logprobs = nullptr;
};

// Called for each generated token, in order; returns false to stop generating.
using TokenSink = absl::FunctionRef<bool(const GeneratedToken&)>;

// A cloud worker the edge may use.
struct CloudEndpoint {
  std::string name;  // for log lines, e.g. "host:port"
  CloudLink* link = nullptr;
};

// Appends a token produced in `mode` to the runs.
void AddToModeRuns(GenerationMode mode, std::vector<ModeRun>& runs);

// "cloud" | "fallback".
std::string_view GenerationModeName(GenerationMode mode);

// The prompt's token ids (with BOS as the model wants; typed "<s>" stays text).
// InvalidArgument if empty, OutOfRange if longer than `max_context`.
absl::StatusOr<std::vector<int32_t>> TokenizePrompt(const Tokenizer& tokenizer,
                                                    std::string_view text, int32_t max_context);
// The request's prompt_tokens if it has them (checked the same way), else its prompt text.
absl::StatusOr<std::vector<int32_t>> TokenizePrompt(const Tokenizer& tokenizer,
                                                    const GenerationRequest& request,
                                                    int32_t max_context);

// "stop" | "length" | "cancelled".
std::string_view FinishReasonName(FinishReason reason);

// 128 random bits in hex.
std::string NewSessionId();

}  // namespace tandem::edge
