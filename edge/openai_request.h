// Requests of the OpenAI-compatible API (/v1/completions, /v1/chat/completions), parsed
// and validated into plain structs. Every problem is an InvalidArgument whose message is
// shown to the client (HTTP 400). Unknown fields are ignored, as OpenAI does; known fields
// this server cannot honour (n > 1, penalties, tools...) are refused rather than
// silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer/chat_template.h"

namespace tandem::edge {

// Parameters shared by both endpoints.
struct CompletionOptions {
  std::string model;                  // as the client named it ("" if absent)
  std::optional<int32_t> max_tokens;  // nullopt: the endpoint's default
  float temperature = 1.0f;           // [0, 2]; 0 = greedy
  float top_p = 1.0f;                 // (0, 1]
  std::optional<uint64_t> seed;       // nullopt: a random seed
  std::vector<std::string> stop;      // at most 4 non-empty sequences
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool report_modes = false;   // "tandem": {"modes": true}: which model made which tokens
  // Set when logprobs are asked for: the alternatives per token. Chat: "logprobs": true
  // with "top_logprobs" in [0, 20]; completions: "logprobs" in [0, 5].
  std::optional<int32_t> top_logprobs;
};

inline constexpr int32_t kMaxChatTopLogprobs = 20;
inline constexpr int32_t kMaxCompletionLogprobs = 5;

struct CompletionRequest {
  std::string prompt;
  CompletionOptions options;
};

using ChatMessage = ::tandem::ChatMessage;  // role: system | developer | user | assistant

struct ChatRequest {
  std::vector<ChatMessage> messages;
  CompletionOptions options;
};

// Upper bound on max_tokens accepted from a client (the context length caps it anyway).
inline constexpr int32_t kMaxTokensLimit = 1 << 20;

absl::StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body);
absl::StatusOr<ChatRequest> ParseChatRequest(std::string_view body);

}  // namespace tandem::edge
