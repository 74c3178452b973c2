// Byte-level BPE (GPT-2 style, as Llama 3, Qwen and SmolLM use): pre-tokenize the text into
// words (bpe_pretokenizer.h), write each word's bytes in the byte-level alphabet
// (byte_level.h), then merge adjacent symbols by merge rank, lowest first, leftmost among
// equals, exactly as llama.cpp's llm_tokenizer_bpe_session does.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/tokenizer/bpe_pretokenizer.h"

namespace tandem {

class BpeModel {
 public:
  // `pieces`: the vocabulary (byte-level text); `merges`: "left right", rank = index.
  // InvalidArgument for a merge without the separating space.
  static absl::StatusOr<BpeModel> Create(const std::vector<std::string>& pieces,
                                         const std::vector<std::string>& merges, PreTokenizer pre,
                                         bool ignore_merges);

  // Appends the ids of raw text (no special tokens are looked for here).
  void Encode(std::string_view text, std::vector<int32_t>& out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;  // symbol id of left + right
  };
  BpeModel() = default;
  // The symbol id of `text`: a vocabulary id, or an id past the vocabulary for strings that
  // only occur inside merges (created when `create`).
  int32_t SymbolId(const std::string& text, bool create);
  void EncodeWord(std::string_view word, std::vector<int32_t>& out) const;

  PreTokenizer pre_ = PreTokenizer::kDefault;
  bool ignore_merges_ = false;
  int32_t n_vocab_ = 0;
  absl::flat_hash_map<std::string, int32_t> piece_to_id_;  // every piece; later ids win
  std::vector<std::string> extra_symbols_;                 // ids n_vocab_ + i
  absl::flat_hash_map<uint64_t, Merge> merges_;            // (left << 32 | right) -> merge
  std::array<int32_t, 256> byte_symbol_{};  // symbol id of each byte's byte-level character
  std::array<int32_t, 256> raw_byte_id_{};  // id of the 1-byte piece of each byte, or -1
};

}  // namespace tandem
