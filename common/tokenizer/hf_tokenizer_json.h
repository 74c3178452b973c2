// Reads a Hugging Face tokenizer.json (byte-level BPE) and, optionally, its
// tokenizer_config.json into a Vocabulary the way llama.cpp's converter
// (convert_hf_to_gguf.py + gguf-py's SpecialVocab) turns them into GGUF keys, so tests and
// benchmarks can build models with real vocabularies (`tandem synth --vocab tokenizer.json`).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/gguf/gguf_writer.h"
#include "common/tokenizer/tokenizer.h"

namespace tandem {

struct HfTokenizer {
  Vocabulary vocab;
  std::string chat_template;  // tokenizer_config.json's chat_template, "" if none
};

// `config_path` may be empty. Ids missing from the vocabulary become "[PAD<id>]" unused
// tokens; added tokens are control if special (or if they look special: <|...|>),
// user-defined otherwise; tokenizer.ggml.pre is named from the pre-tokenizer's regex
// (llama-bpe, qwen2, gpt-2, smollm). InvalidArgument for other models or unknown regexes.
absl::StatusOr<HfTokenizer> LoadHfTokenizer(const std::string& tokenizer_path,
                                            const std::string& config_path);

// Writes the tokenizer.ggml.* keys (and tokenizer.chat_template if not empty) of `vocab`.
void WriteTokenizerKeys(const Vocabulary& vocab, const std::string& chat_template,
                        GgufWriter& writer);

}  // namespace tandem
