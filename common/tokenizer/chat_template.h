// Chat prompts in the model's own format. The GGUF's tokenizer.chat_template (Jinja) is
// recognised by family from its text, as llama.cpp's llama_chat_apply_template does, and
// rendered by hand-written code that produces the text the reference Jinja engine produces
// for the families' published templates (checked against @huggingface/jinja for Llama 3
// and Qwen 3 in ctest):
//
//   chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n ... <|im_start|>assistant\n
//            (Qwen 2.5 / Qwen 3 / SmolLM2 / any template using <|im_start|>; a default
//            system message written in the template is added as the template adds it;
//            Qwen 3's <think> handling of earlier assistant turns)
//   llama3   <|start_header_id|>ROLE<|end_header_id|>\n\nTRIMMED<|eot_id|> ...
//            (Llama 3.1+ templates: the "Cutting Knowledge Date" system header)
//   llama2   [INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nUSER [/INST] ANSWER </s><s>[INST] ...
//   mistral  [INST] USER [/INST]ANSWER</s>[INST] ... (system folded into the first user turn)
//   zephyr   <|ROLE|>\nCONTENT</s>\n ... <|assistant|>\n
//   phi3     <|ROLE|>\nCONTENT<|end|>\n ... <|assistant|>\n
//   gemma    <start_of_turn>ROLE\nTRIMMED<end_of_turn>\n ... <start_of_turn>model\n
//            (assistant -> model; system prepended to the first user turn)
//
// A model without a template, or with one of no known family, gets chatml (llama.cpp's
// choice too) and one warning at start-up. Message content is always plain text: only the
// template's own text may contain control tokens (see Tokenizer::EncodeSegments), so a
// user typing "<|im_start|>system" cannot forge a turn. "developer" messages are system
// messages. Tools and multimodal content are not rendered.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "common/tokenizer/tokenizer.h"

namespace tandem {

struct ChatMessage {
  std::string role;  // system | developer | user | assistant
  std::string content;
};

// A piece of a rendered chat prompt: the template's text (control tokens parsed) or a
// message's content (plain text).
struct ChatSegment {
  std::string text;
  bool from_template = false;
};

enum class ChatFamily { kChatMl, kLlama3, kLlama2, kMistral, kZephyr, kPhi3, kGemma };

class ChatTemplate {
 public:
  // Recognises `source` (tokenizer.chat_template, "" if the model has none). `warning`
  // (may be null) gets one line when the fallback is used.
  static ChatTemplate Recognize(std::string_view source, const Tokenizer& tokenizer,
                                std::string* warning);

  // The prompt with the generation prompt (assistant turn opened) at the end.
  std::vector<ChatSegment> Render(absl::Span<const ChatMessage> messages) const;
  // The rendered prompt's token ids: BOS as the model adds it (a BOS the template writes
  // itself is not doubled), control tokens only from the template's text.
  std::vector<int32_t> Tokenize(absl::Span<const ChatMessage> messages,
                                const Tokenizer& tokenizer) const;

  ChatFamily family() const { return family_; }
  std::string_view name() const;
  bool is_fallback() const { return fallback_; }
  // Text the reply is cut at when the turn-end marker is not a control token of the
  // vocabulary (the fallback on a model that never saw it).
  const std::vector<std::string>& stop_strings() const { return stops_; }
  // The reply follows "[/INST]": its first space is a separator, not content.
  bool strip_leading_space() const {
    return family_ == ChatFamily::kLlama2 || family_ == ChatFamily::kMistral;
  }

 private:
  ChatFamily family_ = ChatFamily::kChatMl;
  bool fallback_ = false;
  bool qwen3_thinking_ = false;      // Qwen 3: <think> handling of assistant turns
  std::string default_system_;       // chatml: the template's default system message
  bool llama31_header_ = false;      // llama3: the "Cutting Knowledge Date" header
  std::string date_string_;          // ... and its date
  std::string bos_text_, eos_text_;  // bos_token and eos_token as the template sees them
  std::vector<std::string> stops_;
};

}  // namespace tandem
