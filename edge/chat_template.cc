#include "edge/chat_template.h"

#include "absl/strings/str_cat.h"

namespace tandem::edge {

std::string FormatChatPrompt(absl::Span<const ChatMessage> messages) {
  std::string prompt;
  for (const ChatMessage& m : messages) {
    const char* speaker = m.role == "user"        ? "User"
                          : m.role == "assistant" ? "Assistant"
                                                  : "System";
    absl::StrAppend(&prompt, speaker, ": ", m.content, "\n");
  }
  prompt += "Assistant:";
  return prompt;
}

}  // namespace tandem::edge
