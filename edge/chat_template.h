// The chat template for models that ship none (the embedded demo model has none), so
// /v1/chat/completions works with any model:
//
//   System: You are terse.        <- "system" and "developer" messages
//   User: Hello                   <- "user" messages
//   Assistant: Hi.                <- earlier "assistant" messages
//   Assistant:                    <- the model writes the reply from here
//
// One line per message (newlines inside a message are kept as they are). The reply stops
// at kChatStopSequence, so the model does not go on to write the user's next turn, and
// one leading space of the reply is dropped.
#pragma once

#include <string>

#include "absl/types/span.h"
#include "edge/openai_request.h"

namespace tandem::edge {

inline constexpr char kChatStopSequence[] = "\nUser:";

std::string FormatChatPrompt(absl::Span<const ChatMessage> messages);

}  // namespace tandem::edge
