#include "edge/openai_request.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/status_macros.h"
#include "edge/json_body.h"

namespace tandem::edge {
namespace {

using Json = nlohmann::json;

absl::Status Bad(std::string_view param, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrFormat("'%s' %s", param, what));
}

absl::Status Unsupported(std::string_view param) {
  return absl::InvalidArgumentError(
      absl::StrFormat("'%s' is not supported by this server with that value", param));
}

// The field `key` of `obj`, or nullptr when absent or null (clients send null for unset).
const Json* Field(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::optional<double>> Number(const Json& obj, const char* key, double lo, double hi,
                                             bool lo_open = false) {
  const Json* f = Field(obj, key);
  if (f == nullptr) return std::nullopt;
  const std::string range = absl::StrCat(lo_open ? "(" : "[", lo, ", ", hi, "]");
  if (!f->is_number()) return Bad(key, absl::StrCat("must be a number in ", range));
  const double v = f->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi || (lo_open && v == lo)) {
    return Bad(key, absl::StrCat("must be a number in ", range));
  }
  return v;
}

absl::StatusOr<std::optional<int64_t>> Integer(const Json& obj, const char* key, int64_t lo,
                                               int64_t hi) {
  const Json* f = Field(obj, key);
  if (f == nullptr) return std::nullopt;
  const std::string what = absl::StrCat("must be an integer in [", lo, ", ", hi, "]");
  if (f->is_number_unsigned()) {
    const uint64_t u = f->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) return Bad(key, what);
    return static_cast<int64_t>(u);
  }
  int64_t v = 0;
  if (f->is_number_integer()) {
    v = f->get<int64_t>();
  } else if (f->is_number_float()) {  // 16.0 is an integer too
    const double d = f->get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9e15) return Bad(key, what);
    v = static_cast<int64_t>(d);
  } else {
    return Bad(key, what);
  }
  if (v < lo || v > hi) return Bad(key, what);
  return v;
}

absl::StatusOr<std::optional<bool>> Bool(const Json& obj, const char* key) {
  const Json* f = Field(obj, key);
  if (f == nullptr) return std::nullopt;
  if (!f->is_boolean()) return Bad(key, "must be a boolean");
  return f->get<bool>();
}

absl::StatusOr<std::vector<std::string>> Stop(const Json& obj) {
  const Json* f = Field(obj, "stop");
  std::vector<std::string> stop;
  if (f == nullptr) return stop;
  if (f->is_string()) {
    stop.push_back(f->get<std::string>());
  } else if (f->is_array() && f->size() <= 4) {
    for (const Json& s : *f) {
      if (!s.is_string()) return Bad("stop", "must be a string or an array of up to 4 strings");
      stop.push_back(s.get<std::string>());
    }
  } else {
    return Bad("stop", "must be a string or an array of up to 4 strings");
  }
  return stop;
}

// Optional features this server does not implement: refused unless at their default.
absl::Status RefuseUnsupported(const Json& obj, bool chat) {
  ASSIGN_OR_RETURN(std::optional<int64_t> n, Integer(obj, "n", 1, 128));
  if (n.has_value() && *n != 1) return Unsupported("n");
  for (const char* key : {"presence_penalty", "frequency_penalty"}) {
    ASSIGN_OR_RETURN(std::optional<double> p, Number(obj, key, -2, 2));
    if (p.has_value() && *p != 0) return Unsupported(key);
  }
  if (const Json* f = Field(obj, "logit_bias"); f != nullptr) {
    if (!f->is_object()) return Bad("logit_bias", "must be an object");
    if (!f->empty()) return Unsupported("logit_bias");
  }
  if (chat) {
    for (const char* key : {"tools", "functions"}) {
      const Json* f = Field(obj, key);
      if (f != nullptr && (!f->is_array() || !f->empty())) return Unsupported(key);
    }
    if (const Json* f = Field(obj, "response_format"); f != nullptr) {
      const Json* type = f->is_object() ? Field(*f, "type") : nullptr;
      if (type == nullptr || *type != "text") return Unsupported("response_format");
    }
  } else {
    ASSIGN_OR_RETURN(std::optional<bool> echo, Bool(obj, "echo"));
    if (echo.value_or(false)) return Unsupported("echo");
    ASSIGN_OR_RETURN(std::optional<int64_t> best_of, Integer(obj, "best_of", 1, 20));
    if (best_of.value_or(1) != 1) return Unsupported("best_of");
    if (const Json* f = Field(obj, "suffix"); f != nullptr) {
      if (!f->is_string()) return Bad("suffix", "must be a string");
      if (!f->get<std::string>().empty()) return Unsupported("suffix");
    }
  }
  return absl::OkStatus();
}

// Chat: "logprobs" (bool) and "top_logprobs" (needs "logprobs": true, as OpenAI);
// completions: "logprobs" (the number of alternatives). nullopt: no logprobs.
absl::StatusOr<std::optional<int32_t>> TopLogprobs(const Json& obj, bool chat) {
  if (!chat) {
    ASSIGN_OR_RETURN(std::optional<int64_t> n, Integer(obj, "logprobs", 0, kMaxCompletionLogprobs));
    if (!n.has_value()) return std::nullopt;
    return static_cast<int32_t>(*n);
  }
  ASSIGN_OR_RETURN(std::optional<bool> logprobs, Bool(obj, "logprobs"));
  ASSIGN_OR_RETURN(std::optional<int64_t> top,
                   Integer(obj, "top_logprobs", 0, kMaxChatTopLogprobs));
  if (!logprobs.value_or(false)) {
    if (top.value_or(0) != 0) return Bad("top_logprobs", "requires 'logprobs' to be true");
    return std::nullopt;
  }
  return static_cast<int32_t>(top.value_or(0));
}

absl::StatusOr<CompletionOptions> Options(const Json& obj, bool chat) {
  RETURN_IF_ERROR(RefuseUnsupported(obj, chat));
  CompletionOptions o;
  if (const Json* f = Field(obj, "model"); f != nullptr) {
    if (!f->is_string()) return Bad("model", "must be a string");
    o.model = f->get<std::string>();
  }
  const char* max_key = chat && Field(obj, "max_completion_tokens") != nullptr
                            ? "max_completion_tokens"
                            : "max_tokens";
  ASSIGN_OR_RETURN(std::optional<int64_t> max_tokens, Integer(obj, max_key, 0, kMaxTokensLimit));
  if (max_tokens.has_value()) o.max_tokens = static_cast<int32_t>(*max_tokens);
  ASSIGN_OR_RETURN(std::optional<double> temperature, Number(obj, "temperature", 0, 2));
  o.temperature = static_cast<float>(temperature.value_or(1.0));
  ASSIGN_OR_RETURN(std::optional<double> top_p, Number(obj, "top_p", 0, 1, /*lo_open=*/true));
  o.top_p = static_cast<float>(top_p.value_or(1.0));
  if (const Json* f = Field(obj, "seed"); f != nullptr) {
    if (f->is_number_unsigned()) {
      o.seed = f->get<uint64_t>();
    } else if (f->is_number_integer()) {
      o.seed = static_cast<uint64_t>(f->get<int64_t>());
    } else {
      return Bad("seed", "must be an integer");
    }
  }
  ASSIGN_OR_RETURN(o.stop, Stop(obj));
  ASSIGN_OR_RETURN(o.top_logprobs, TopLogprobs(obj, chat));
  ASSIGN_OR_RETURN(std::optional<bool> stream, Bool(obj, "stream"));
  o.stream = stream.value_or(false);
  if (const Json* f = Field(obj, "stream_options"); f != nullptr) {
    if (!f->is_object()) return Bad("stream_options", "must be an object");
    ASSIGN_OR_RETURN(std::optional<bool> usage, Bool(*f, "include_usage"));
    o.include_usage = o.stream && usage.value_or(false);
  }
  // Tandem's extension: {"tandem": {"modes": true}} asks which model (the cloud or the
  // device's fallback) produced which tokens.
  if (const Json* f = Field(obj, "tandem"); f != nullptr) {
    if (!f->is_object()) return Bad("tandem", "must be an object");
    ASSIGN_OR_RETURN(std::optional<bool> modes, Bool(*f, "modes"));
    o.report_modes = modes.value_or(false);
  }
  return o;
}

absl::StatusOr<std::string> Content(const Json& message, const std::string& role) {
  const Json* f = Field(message, "content");
  if (f == nullptr) {
    if (role == "assistant") return std::string();  // e.g. a tool-call turn
    return Bad("messages[].content", "is required");
  }
  if (f->is_string()) return f->get<std::string>();
  if (!f->is_array()) return Bad("messages[].content", "must be a string or an array of parts");
  std::string text;
  for (const Json& part : *f) {
    const Json* type = part.is_object() ? Field(part, "type") : nullptr;
    const Json* t = part.is_object() ? Field(part, "text") : nullptr;
    if (type == nullptr || *type != "text" || t == nullptr || !t->is_string()) {
      return Bad("messages[].content", "parts must be {\"type\": \"text\", \"text\": string}");
    }
    text += t->get<std::string>();
  }
  return text;
}

}  // namespace

absl::StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body) {
  ASSIGN_OR_RETURN(Json obj, ParseJsonObject(body));
  CompletionRequest request;
  const Json* prompt = Field(obj, "prompt");
  if (prompt == nullptr) return Bad("prompt", "is required");
  if (prompt->is_string()) {
    request.prompt = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    request.prompt = (*prompt)[0].get<std::string>();
  } else {
    return Bad("prompt", "must be a string (or an array of exactly one string)");
  }
  ASSIGN_OR_RETURN(request.options, Options(obj, /*chat=*/false));
  return request;
}

absl::StatusOr<ChatRequest> ParseChatRequest(std::string_view body) {
  ASSIGN_OR_RETURN(Json obj, ParseJsonObject(body));
  ChatRequest request;
  const Json* messages = Field(obj, "messages");
  if (messages == nullptr || !messages->is_array() || messages->empty()) {
    return Bad("messages", "must be a non-empty array");
  }
  for (const Json& m : *messages) {
    if (!m.is_object()) return Bad("messages[]", "must be objects");
    const Json* role = Field(m, "role");
    if (role == nullptr || !role->is_string()) return Bad("messages[].role", "must be a string");
    ChatMessage message{.role = role->get<std::string>()};
    if (message.role != "system" && message.role != "developer" && message.role != "user" &&
        message.role != "assistant") {
      return Bad("messages[].role", "must be one of system, developer, user, assistant");
    }
    ASSIGN_OR_RETURN(message.content, Content(m, message.role));
    request.messages.push_back(std::move(message));
  }
  ASSIGN_OR_RETURN(request.options, Options(obj, /*chat=*/true));
  return request;
}

}  // namespace tandem::edge
