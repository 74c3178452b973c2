// `tandem tokenize` (like llama.cpp's llama-tokenize): the token ids of user text, or of a
// chat rendered with the model's template. Reads only the file's metadata.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_format.h"
#include "common/gguf/gguf_file.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tool/commands.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace tandem {
namespace {

using Json = nlohmann::json;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// An OpenAI-style messages array: [{"role": ..., "content": "..."}, ...].
absl::StatusOr<std::vector<ChatMessage>> ParseMessages(const std::string& text,
                                                       const std::string& path) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.contains("messages")) json = json["messages"];
  if (!json.is_array()) {
    return absl::InvalidArgumentError(path + ": expected a JSON array of messages");
  }
  std::vector<ChatMessage> messages;
  for (const Json& m : json) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string()) {
      return absl::InvalidArgumentError(
          path + ": each message needs a string \"role\" and a string \"content\"");
    }
    messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return messages;
}

void PrintIds(const std::vector<int32_t>& ids, std::ostream& out) {
  out << "[";
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? ", " : "") << ids[i];
  out << "]\n";
}

}  // namespace

absl::Status RunTokenize(const TokenizeConfig& config, std::ostream& out, std::ostream& err) {
  ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::Open(config.model_path));
  ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromGguf(*file));

  if (config.jsonl) {
    // One JSON object per line, {"text": ..., "special": bool} -> {"ids": [...]}; the
    // protocol of the llama.cpp oracle (tests/integration/tokenizer/tokenize.mjs). No BOS.
    for (std::string line; std::getline(std::cin, line);) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      Json in = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!in.is_object() || !in.contains("text") || !in["text"].is_string()) {
        return absl::InvalidArgumentError("--jsonl: each line must be {\"text\": string}");
      }
      const std::string text = in["text"].get<std::string>();
      const TextSegment segment{text, in.value("special", false)};
      Json result = {{"ids", tokenizer.EncodeSegments({&segment, 1}, /*add_bos=*/false)}};
      out << result.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
    }
    return absl::OkStatus();
  }

  std::vector<int32_t> ids;
  size_t input_bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  if (!config.chat_path.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(config.chat_path));
    ASSIGN_OR_RETURN(std::vector<ChatMessage> messages, ParseMessages(text, config.chat_path));
    absl::StatusOr<std::string> source = file->GetString("tokenizer.chat_template");
    std::string warning;
    const ChatTemplate chat =
        ChatTemplate::Recognize(source.ok() ? *source : "", tokenizer, &warning);
    if (!warning.empty()) err << "tandem: warning: " << warning << "\n";
    ids = chat.Tokenize(messages, tokenizer);
  } else {
    std::string text = config.prompt;
    if (!config.file_path.empty()) {
      ASSIGN_OR_RETURN(text, ReadFile(config.file_path));
    }
    input_bytes = text.size();
    ids = tokenizer.Encode(text, tokenizer.add_bos() && !config.no_bos);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (config.timing) {
    err << absl::StrFormat("tokenized %d bytes into %d tokens in %.2f ms (%.2f MB/s)\n",
                           input_bytes, ids.size(), seconds * 1e3, input_bytes / seconds / 1e6);
  }
  if (config.ids_only) {
    PrintIds(ids, out);
    return absl::OkStatus();
  }
  for (int32_t id : ids) {
    const std::string piece =
        tokenizer.IsControl(id) ? tokenizer.vocabulary().pieces[id] : tokenizer.TokenToPiece(id);
    out << absl::StrFormat("%6d -> '%s'\n", id, piece);
  }
  return absl::OkStatus();
}

}  // namespace tandem
