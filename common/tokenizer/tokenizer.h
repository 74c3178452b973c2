// The llama SentencePiece (SPM) tokenizer, read from GGUF metadata, producing exactly the
// token ids llama.cpp produces: space prefix, "▁" for spaces, greedy highest-score
// bigram merges, byte-fallback tokens <0xXX> for pieces not in the vocabulary.
// Text is always plain text: "<s>" or "</s>" typed by a user become ordinary pieces,
// never control tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/gguf/gguf_file.h"

namespace tandem {

// SentencePiece token types as GGUF stores them (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct Vocabulary {
  std::vector<std::string> pieces;  // tokenizer.ggml.tokens
  std::vector<float> scores;        // tokenizer.ggml.scores
  std::vector<TokenType> types;     // tokenizer.ggml.token_type
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;
  bool add_bos = true;           // tokenizer.ggml.add_bos_token (llama default: true)
  bool add_space_prefix = true;  // tokenizer.ggml.add_space_prefix (llama default: true)
};

class Tokenizer {
 public:
  // Reads the vocabulary; InvalidArgument if tokenizer.ggml.model is not "llama" or the
  // arrays are missing, of different lengths, or ids are out of range.
  static absl::StatusOr<Tokenizer> FromGguf(const GgufFile& file);
  static absl::StatusOr<Tokenizer> FromVocabulary(Vocabulary vocab);

  // Token ids for `text` (plain text), with BOS first if `add_bos`.
  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const;

  // The bytes token `id` stands for ("▁" -> " ", <0x0A> -> "\n", control tokens -> "").
  // Byte tokens may yield partial UTF-8 sequences; concatenate before display.
  std::string TokenToPiece(int32_t id) const;
  // Concatenated pieces of `ids`.
  std::string Decode(const std::vector<int32_t>& ids) const;

  int32_t vocab_size() const { return static_cast<int32_t>(vocab_.pieces.size()); }
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  bool add_bos() const { return vocab_.add_bos; }
  bool IsControl(int32_t id) const;
  const Vocabulary& vocabulary() const { return vocab_; }

 private:
  explicit Tokenizer(Vocabulary vocab);
  Vocabulary vocab_;
  absl::flat_hash_map<std::string, int32_t> piece_to_id_;
  std::vector<int32_t> byte_to_id_;  // 256 entries; -1 if the vocabulary lacks the byte
};

}  // namespace tandem
