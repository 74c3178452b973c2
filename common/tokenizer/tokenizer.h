// The llama SentencePiece (SPM) tokenizer, read from GGUF metadata, producing exactly the
// token ids llama.cpp produces: space prefix, "▁" for spaces, greedy highest-score
// bigram merges, byte-fallback tokens <0xXX> for pieces not in the vocabulary.
// Text is always plain text: "<s>" or "</s>" typed by a user become ordinary pieces,
// never control tokens. (User-defined tokens are split out first, as llama.cpp does.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
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
  // Reads the vocabulary; InvalidArgument if tokenizer.ggml.model is not "llama", the
  // token list is missing, the arrays differ in length, or ids are out of range. Like
  // llama.cpp, scores (default 0) and token types (default normal) may be absent.
  static absl::StatusOr<Tokenizer> FromGguf(const GgufFile& file);
  // InvalidArgument if the vocabulary is empty, its arrays differ in length, a type is
  // out of range or bos/eos/unk ids are outside the vocabulary.
  static absl::StatusOr<Tokenizer> FromVocabulary(Vocabulary vocab);

  // Token ids for `text` (plain text), with BOS first if `add_bos`. Any bytes are
  // accepted: as in llama.cpp a UTF-8 lead byte takes its continuation bytes (valid or
  // not) into one symbol and a stray byte is a symbol of its own; symbols not in the
  // vocabulary become byte tokens (the unknown token if the byte has none).
  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const;

  // The bytes token `id` stands for, as llama.cpp's token_to_piece(special=false):
  // normal "▁" -> " ", <0x0A> -> "\n", user-defined verbatim; control, unknown, unused
  // and out-of-range ids -> "". Byte tokens may yield partial UTF-8 sequences;
  // concatenate before display.
  std::string TokenToPiece(int32_t id) const;
  // Concatenated pieces of `ids`. The space prefix Encode adds is kept (llama.cpp's
  // llama_detokenize strips one leading space of the first piece instead).
  std::string Decode(absl::Span<const int32_t> ids) const;

  int32_t vocab_size() const { return static_cast<int32_t>(vocab_.pieces.size()); }
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  bool add_bos() const { return vocab_.add_bos; }
  bool IsControl(int32_t id) const;
  const Vocabulary& vocabulary() const { return vocab_; }

 private:
  explicit Tokenizer(Vocabulary vocab);
  // Appends the SPM tokens of one stretch of raw text (spaces already escaped).
  void EncodeFragment(std::string_view text, std::vector<int32_t>& out) const;

  Vocabulary vocab_;
  // Pieces that merges may produce: every type but control, unknown and byte, so that
  // typed "<s>" or "<0x41>" can never turn into those tokens.
  absl::flat_hash_map<std::string, int32_t> piece_to_id_;
  std::vector<int32_t> byte_to_id_;    // 256 entries: <0xXX>, else the 1-char piece, else unk
  std::vector<int32_t> user_defined_;  // user-defined ids, longest piece first
};

}  // namespace tandem
