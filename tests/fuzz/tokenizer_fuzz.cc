// libFuzzer target: the tokenizer of the embedded model (SentencePiece-style from GGUF) on
// arbitrary bytes (invalid UTF-8, control-token text, long runs): Encode must not crash,
// every id must be in the vocabulary, and Decode of the ids must not crash either.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "common/gguf/gguf_file.h"
#include "common/tokenizer/tokenizer.h"

namespace {

const tandem::Tokenizer& ModelTokenizer() {
  static const tandem::Tokenizer* tokenizer = [] {
    auto file = tandem::GgufFile::Open(TANDEM_FUZZ_MODEL);
    if (!file.ok()) std::abort();
    auto t = tandem::Tokenizer::FromGguf(**file);
    if (!t.ok()) std::abort();
    return new tandem::Tokenizer(*std::move(t));
  }();
  return *tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  const tandem::Tokenizer& tokenizer = ModelTokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<int32_t> ids = tokenizer.Encode(text, /*add_bos=*/size % 2 == 0);
  for (int32_t id : ids) {
    if (id < 0 || id >= tokenizer.vocab_size()) std::abort();
  }
  (void)tokenizer.Decode(ids);
  return 0;
}
