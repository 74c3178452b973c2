// libFuzzer target: the edge's OpenAI request parsers (completions and chat) and the chat
// templates of every family on arbitrary bodies. Bad input must give one clear error, never
// a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/chat_template.h"
#include "edge/openai_request.h"

namespace {

// A byte-level BPE vocabulary with <s> and </s>, and one template per family.
const std::vector<tandem::ChatTemplate>& Templates(const tandem::Tokenizer** tokenizer) {
  static const tandem::Tokenizer* tok = [] {
    tandem::Vocabulary v;
    v.kind = tandem::VocabKind::kBytePair;
    v.pre = "llama-bpe";
    for (int b = 0; b < 256; ++b) {
      v.pieces.push_back(tandem::ByteLevelStrings()[b]);
      v.types.push_back(tandem::TokenType::kNormal);
    }
    v.pieces.insert(v.pieces.end(), {"<s>", "</s>", "<|im_start|>", "<|im_end|>"});
    v.types.insert(v.types.end(), 4, tandem::TokenType::kControl);
    v.scores.assign(v.pieces.size(), 0.0f);
    v.bos_id = 256;
    v.eos_id = 257;
    v.unk_id = -1;
    return new tandem::Tokenizer(*tandem::Tokenizer::FromVocabulary(v));
  }();
  static const auto* templates = [] {
    auto* t = new std::vector<tandem::ChatTemplate>();
    for (const char* source :
         {"", "<|im_start|> last_query_index </think>",
          "<|start_header_id|><|end_header_id|> Cutting Knowledge Date", "[INST] <<SYS>>", "[INST]",
          "<|user|>", "<|assistant|><|end|>", "<start_of_turn>"}) {
      t->push_back(tandem::ChatTemplate::Recognize(source, *tok, nullptr));
    }
    return t;
  }();
  *tokenizer = tok;
  return *templates;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)tandem::edge::ParseCompletionRequest(body);
  auto chat = tandem::edge::ParseChatRequest(body);
  if (chat.ok()) {
    const tandem::Tokenizer* tokenizer = nullptr;
    for (const tandem::ChatTemplate& t : Templates(&tokenizer)) {
      (void)t.Tokenize(chat->messages, *tokenizer);
    }
  }
  return 0;
}
