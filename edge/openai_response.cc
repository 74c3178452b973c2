#include "edge/openai_response.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "edge/json_body.h"
#include "edge/utf8_stream.h"
#include "nlohmann/json.hpp"

namespace tandem::edge {
namespace {

// Objects keep their insertion order: a top_logprobs object lists the most likely first.
using Json = nlohmann::ordered_json;

// A token as text: its bytes if they are valid UTF-8, else each byte as "\xNN" (after
// `prefix`), as OpenAI shows byte tokens.
std::string TokenText(std::string_view bytes, std::string_view prefix) {
  if (SanitizeUtf8(bytes) == bytes) return std::string(bytes);
  std::string out(prefix);
  for (char c : bytes) absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(c));
  return out;
}

Json ByteList(std::string_view bytes) {
  Json out = Json::array();
  for (char c : bytes) out.push_back(static_cast<unsigned char>(c));
  return out;
}

Json CompletionLogprobs(const std::vector<LogprobEntry>& entries) {
  Json tokens = Json::array(), token_logprobs = Json::array(), top = Json::array(),
       offsets = Json::array();
  for (const LogprobEntry& e : entries) {
    const std::string token = TokenText(e.bytes, "bytes:");
    tokens.push_back(token);
    token_logprobs.push_back(e.logprob);
    Json alternatives = Json::object();
    for (const LogprobEntry::Alternative& a : e.top) {
      const std::string text = TokenText(a.bytes, "bytes:");
      if (!alternatives.contains(text)) alternatives[text] = a.logprob;  // the likelier one
    }
    // OpenAI always includes the sampled token: up to logprobs + 1 entries.
    if (!alternatives.contains(token)) alternatives[token] = e.logprob;
    top.push_back(std::move(alternatives));
    offsets.push_back(e.text_offset);
  }
  return Json{{"tokens", std::move(tokens)},
              {"token_logprobs", std::move(token_logprobs)},
              {"top_logprobs", std::move(top)},
              {"text_offset", std::move(offsets)}};
}

Json ChatLogprobs(const std::vector<LogprobEntry>& entries) {
  Json content = Json::array();
  for (const LogprobEntry& e : entries) {
    Json top = Json::array();
    for (const LogprobEntry::Alternative& a : e.top) {
      top.push_back(Json{
          {"token", TokenText(a.bytes, "")}, {"logprob", a.logprob}, {"bytes", ByteList(a.bytes)}});
    }
    content.push_back(Json{{"token", TokenText(e.bytes, "")},
                           {"logprob", e.logprob},
                           {"bytes", ByteList(e.bytes)},
                           {"top_logprobs", std::move(top)}});
  }
  return Json{{"content", std::move(content)}, {"refusal", nullptr}};
}

Json LogprobsJson(const CompletionMeta& meta, const std::vector<LogprobEntry>* entries) {
  if (entries == nullptr) return nullptr;
  return meta.chat ? ChatLogprobs(*entries) : CompletionLogprobs(*entries);
}

Json Header(const CompletionMeta& meta, const char* object) {
  return Json{
      {"id", meta.id}, {"object", object}, {"created", meta.created}, {"model", meta.model}};
}

Json UsageJson(const Usage& usage) {
  return Json{{"prompt_tokens", usage.prompt_tokens},
              {"completion_tokens", usage.completion_tokens},
              {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

Json Error(std::string_view message, const char* type, const char* code) {
  return Json{{"error",
               {{"message", message},
                {"type", type},
                {"param", nullptr},
                {"code", code == nullptr ? Json(nullptr) : Json(code)}}}};
}

}  // namespace

std::string CompletionJson(const CompletionMeta& meta, std::string_view text,
                           std::string_view finish_reason, const Usage& usage,
                           const std::vector<LogprobEntry>* logprobs) {
  Json choice{{"index", 0}};
  if (meta.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = LogprobsJson(meta, logprobs);
  choice["finish_reason"] = finish_reason;
  Json out = Header(meta, meta.chat ? "chat.completion" : "text_completion");
  out["choices"] = Json::array({choice});
  out["usage"] = UsageJson(usage);
  return DumpJson(out);
}

std::string StreamChunkJson(const CompletionMeta& meta, std::string_view text,
                            std::optional<std::string_view> finish_reason, bool role,
                            const std::vector<LogprobEntry>* logprobs) {
  Json choice{{"index", 0}};
  if (meta.chat) {
    Json delta = Json::object();
    if (role) delta["role"] = "assistant";
    if (!finish_reason.has_value()) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = LogprobsJson(meta, logprobs);
  choice["finish_reason"] = finish_reason.has_value() ? Json(*finish_reason) : Json(nullptr);
  Json out = Header(meta, meta.chat ? "chat.completion.chunk" : "text_completion");
  out["choices"] = Json::array({choice});
  return DumpJson(out);
}

std::string UsageChunkJson(const CompletionMeta& meta, const Usage& usage) {
  Json out = Header(meta, meta.chat ? "chat.completion.chunk" : "text_completion");
  out["choices"] = Json::array();
  out["usage"] = UsageJson(usage);
  return DumpJson(out);
}

std::string ModelsJson(std::string_view model, int64_t created) {
  Json entry{{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "tandem"}};
  return DumpJson(Json{{"object", "list"}, {"data", Json::array({entry})}});
}

std::string WithModeReport(std::string_view json, const std::vector<ModeSpan>& spans,
                           int32_t draft_tokens, int32_t accepted_draft_tokens) {
  Json out = Json::parse(json);
  Json modes = Json::array();
  int32_t fallback = 0;
  for (const ModeSpan& s : spans) {
    modes.push_back({{"mode", s.mode}, {"tokens", s.tokens}});
    if (s.mode == "fallback") fallback += s.tokens;
  }
  out["tandem"] = {{"modes", modes},
                   {"fallback_tokens", fallback},
                   {"draft_tokens", draft_tokens},
                   {"accepted_draft_tokens", accepted_draft_tokens}};
  return DumpJson(out);
}

namespace {

// How a status reaches an OpenAI client: the HTTP status, error.type and error.code.
struct ClientError {
  int http_status;
  const char* type;
  const char* code;  // null: none
};

ClientError ClientErrorFor(absl::StatusCode code) {
  static constexpr std::pair<absl::StatusCode, ClientError> kErrors[] = {
      {absl::StatusCode::kInvalidArgument, {400, "invalid_request_error", nullptr}},
      {absl::StatusCode::kOutOfRange, {400, "invalid_request_error", "context_length_exceeded"}},
      {absl::StatusCode::kResourceExhausted, {429, "rate_limit_error", "rate_limit_exceeded"}},
      {absl::StatusCode::kUnauthenticated, {401, "authentication_error", "invalid_api_key"}},
      {absl::StatusCode::kPermissionDenied, {403, "permission_error", nullptr}},
      {absl::StatusCode::kUnavailable, {503, "server_error", "service_unavailable"}},
      {absl::StatusCode::kDeadlineExceeded, {504, "server_error", "timeout"}},
  };
  for (const auto& [status_code, error] : kErrors) {
    if (status_code == code) return error;
  }
  return {500, "server_error", nullptr};
}

}  // namespace

int HttpStatusFor(const absl::Status& status) { return ClientErrorFor(status.code()).http_status; }

std::string ErrorJson(const absl::Status& status) {
  const ClientError e = ClientErrorFor(status.code());
  return DumpJson(Error(std::string(status.message()), e.type, e.code));
}

std::string HttpErrorJson(int http_status, std::string_view message) {
  return DumpJson(
      Error(message, http_status < 500 ? "invalid_request_error" : "server_error", nullptr));
}

std::string SseEvent(std::string_view json) {
  std::string event = "data: ";
  event.append(json);
  event += "\n\n";
  return event;
}

}  // namespace tandem::edge
