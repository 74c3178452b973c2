// The pre-tokenizers of byte-level BPE vocabularies: text -> words, before merges. Chosen
// by the GGUF key tokenizer.ggml.pre exactly as llama.cpp chooses it (llama-vocab.cpp), and
// splitting exactly as llama.cpp does. The Hugging Face regexes use lookahead (\s+(?!\S)),
// which RE2 lacks, so each is a hand-written matcher of the same language (as llama.cpp's
// unicode.cpp does), over Unicode classes from ICU (unicode_text.h).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem {

enum class PreTokenizer {
  // llama.cpp's fallback: [\p{P}$+<=>^~|]+ then the GPT-2 regex then \p{N}+ then [0-9]{3}.
  kDefault,
  // Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // Qwen 2 / 2.5 / 3: the Llama 3 regex with single digits (\p{N}).
  kQwen2,
  // GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // StarCoder / SmolLM: single digits (\p{N}) first, then the GPT-2 regex.
  kDigitsGpt2,
};

struct PreTokenizerChoice {
  PreTokenizer kind = PreTokenizer::kDefault;
  bool ignore_merges = false;  // a word that is a whole piece is taken as is (Llama 3)
  bool add_bos = false;        // the default of tokenizer.ggml.add_bos_token
  bool known = true;           // false: an unknown name, which llama.cpp also treats as default
};

// llama.cpp's mapping of tokenizer.ggml.pre ("" when the key is absent). Names llama.cpp
// knows but whose splitting Tandem does not implement (deepseek-*, falcon, tekken, ...) are
// Unimplemented, rather than silently tokenized differently.
absl::StatusOr<PreTokenizerChoice> ChoosePreTokenizer(std::string_view pre);

// Splits `cps` into words; returns the length of each word in code points (they add up to
// cps.size()).
void PreTokenize(PreTokenizer kind, const std::vector<char32_t>& cps, std::vector<uint32_t>& words);

}  // namespace tandem
