// Responses of the OpenAI-compatible API as JSON text: completion objects, the chunks of
// a server-sent-event stream, the model list and error objects
// ({"error": {"message", "type", "param", "code"}}) with their HTTP status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "edge/completion_logprobs.h"

namespace tandem::edge {

struct CompletionMeta {
  std::string id;       // "cmpl-..." / "chatcmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
  bool chat = false;
};

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
};

// "text_completion" or "chat.completion" with one choice and usage. With `logprobs`
// (the request asked for them), the choice's "logprobs" in the endpoint's format:
//   completions  {"tokens": [...], "token_logprobs": [...], "top_logprobs": [{token:
//                logprob, ...}, ...], "text_offset": [...]}, each top_logprobs object the
//                most likely tokens, most likely first, plus the sampled token if it is
//                not among them (as OpenAI: up to logprobs + 1 entries);
//   chat         {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token",
//                "logprob", "bytes"}, ...]}, ...], "refusal": null}.
// A token that is not valid UTF-8 by itself (a byte token) is shown as "\xNN" escapes
// ("bytes:\xNN" for completions, as OpenAI); "bytes" has its real bytes.
std::string CompletionJson(const CompletionMeta& meta, std::string_view text,
                           std::string_view finish_reason, const Usage& usage,
                           const std::vector<LogprobEntry>* logprobs = nullptr);

// One streamed chunk ("text_completion" / "chat.completion.chunk"). For chat, `role`
// adds "role": "assistant" to the delta (the first chunk); a chunk with a finish reason
// carries no text for chat (an empty delta). `logprobs`: the entries of the chunk's
// tokens (as CompletionJson); null: "logprobs": null.
std::string StreamChunkJson(const CompletionMeta& meta, std::string_view text,
                            std::optional<std::string_view> finish_reason, bool role,
                            const std::vector<LogprobEntry>* logprobs = nullptr);
// The extra chunk with usage and no choices (stream_options.include_usage).
std::string UsageChunkJson(const CompletionMeta& meta, const Usage& usage);

std::string ModelsJson(std::string_view model, int64_t created);

// A run of completion tokens produced by one model ("cloud" or "fallback").
struct ModeSpan {
  std::string_view mode;
  int32_t tokens = 0;
};
// `json` (a completion, or a stream's chunk with the finish reason) with Tandem's report
// added: "tandem": {"modes": [{"mode": "cloud", "tokens": 12}, ...], "fallback_tokens": n,
// "draft_tokens": d, "accepted_draft_tokens": a} (speculative decoding's guesses and how
// many of them the worker kept).
std::string WithModeReport(std::string_view json, const std::vector<ModeSpan>& spans,
                           int32_t draft_tokens, int32_t accepted_draft_tokens);

// The HTTP status for a failed request (400 bad request, 429 busy, 503 cloud down, 504
// cloud too slow, 500 otherwise) and its error object.
int HttpStatusFor(const absl::Status& status);
std::string ErrorJson(const absl::Status& status);
// An error object for an HTTP status without an absl::Status (404, 413, ...).
std::string HttpErrorJson(int http_status, std::string_view message);

// "data: <json>\n\n", and the stream's last event.
std::string SseEvent(std::string_view json);
inline constexpr char kSseDone[] = "data: [DONE]\n\n";

}  // namespace tandem::edge
