// libFuzzer target: the edge's OpenAI request parsers (completions and chat) and the chat
// template on arbitrary bodies. Bad input must give one clear error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "edge/chat_template.h"
#include "edge/openai_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)tandem::edge::ParseCompletionRequest(body);
  auto chat = tandem::edge::ParseChatRequest(body);
  if (chat.ok()) (void)tandem::edge::FormatChatPrompt(chat->messages);
  return 0;
}
