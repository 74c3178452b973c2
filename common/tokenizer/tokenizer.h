// The tokenizer of a GGUF model, producing exactly the token ids llama.cpp produces, for
// both vocabulary kinds llama.cpp calls SPM and BPE:
// - SentencePiece (tokenizer.ggml.model "llama": Llama 2, Mistral, TinyLlama): space prefix,
//   "▁" for spaces, greedy highest-score bigram merges, byte-fallback tokens <0xXX>.
// - Byte-level BPE (tokenizer.ggml.model "gpt2": Llama 3, Qwen, SmolLM, Phi): the
//   pre-tokenizer named by tokenizer.ggml.pre, then ranked merges (bpe_model.h).
// Text is plain text unless a segment says otherwise: "<s>", "</s>" or "<|im_start|>" typed
// by a user become ordinary pieces, never control tokens; control tokens come only from
// segments marked `specials` (the chat template's own text). User-defined tokens are split
// out of any text first, as llama.cpp does.
#pragma once

#include <cstdint>
#include <memory>
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

enum class VocabKind {
  kSentencePiece,  // tokenizer.ggml.model "llama"
  kBytePair,       // tokenizer.ggml.model "gpt2" (byte-level BPE)
};

class BpeModel;

struct Vocabulary {
  VocabKind kind = VocabKind::kSentencePiece;
  std::vector<std::string> pieces;  // tokenizer.ggml.tokens
  std::vector<float> scores;        // tokenizer.ggml.scores
  std::vector<TokenType> types;     // tokenizer.ggml.token_type
  std::vector<std::string> merges;  // tokenizer.ggml.merges, "left right" by rank (BPE)
  std::string pre;                  // tokenizer.ggml.pre (BPE; "" when absent)
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;  // -1: none (BPE vocabularies usually have none)
  // Optional ids (-1 when absent); the end-of-generation set is derived from them and from
  // the token texts, as llama.cpp derives it.
  int32_t eot_id = -1;
  int32_t eom_id = -1;
  int32_t pad_id = -1;
  int32_t fim_pad_id = -1;
  int32_t fim_rep_id = -1;
  int32_t fim_sep_id = -1;
  bool add_bos = true;           // tokenizer.ggml.add_bos_token (llama default: true)
  bool add_eos = false;          // tokenizer.ggml.add_eos_token
  bool add_space_prefix = true;  // tokenizer.ggml.add_space_prefix (llama default: true)
};

// A stretch of text to tokenize. `specials`: control-token text in it (e.g. "<|im_end|>")
// becomes the control token; otherwise it is plain text.
struct TextSegment {
  std::string_view text;
  bool specials = false;
};

class Tokenizer {
 public:
  // Reads the vocabulary; InvalidArgument if tokenizer.ggml.model is neither "llama" nor
  // "gpt2", the token list (or, for gpt2, the merges) is missing, the arrays differ in
  // length, or ids are out of range; Unimplemented for a tokenizer.ggml.pre that llama.cpp
  // knows and Tandem does not split like it. Like llama.cpp, scores (default 0) and token
  // types (default normal) may be absent.
  static absl::StatusOr<Tokenizer> FromGguf(const GgufFile& file);
  // InvalidArgument if the vocabulary is empty, its arrays differ in length, a type is
  // out of range or bos/eos/unk ids are outside the vocabulary.
  static absl::StatusOr<Tokenizer> FromVocabulary(Vocabulary vocab);

  // Token ids for `text` (plain text), with BOS first if `add_bos`. Any bytes are
  // accepted. SPM: as in llama.cpp a UTF-8 lead byte takes its continuation bytes (valid
  // or not) into one symbol and a stray byte is a symbol of its own; symbols not in the
  // vocabulary become byte tokens (the unknown token if the byte has none). BPE: as in
  // llama.cpp each invalid byte is read as U+FFFD.
  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const;
  // The segments as one text: control-token text is parsed only inside segments marked
  // `specials`; everything between control tokens is tokenized as one stretch, so a
  // segment boundary does not change the ids (a template's text and a user's message
  // tokenize exactly as llama.cpp tokenizes the rendered prompt with specials parsed).
  std::vector<int32_t> EncodeSegments(absl::Span<const TextSegment> segments, bool add_bos) const;

  // The bytes token `id` stands for, as llama.cpp's token_to_piece(special=false):
  // SPM normal "▁" -> " ", <0x0A> -> "\n"; BPE normal: the byte-level text decoded
  // ("Ġ" -> " "); user-defined verbatim; control, unknown, unused and out-of-range ids ->
  // "". Pieces may be partial UTF-8 sequences; concatenate before display.
  std::string TokenToPiece(int32_t id) const;
  // Concatenated pieces of `ids`. The space prefix Encode adds is kept (llama.cpp's
  // llama_detokenize strips one leading space of the first piece instead).
  std::string Decode(absl::Span<const int32_t> ids) const;

  int32_t vocab_size() const { return static_cast<int32_t>(vocab_.pieces.size()); }
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  bool add_bos() const { return vocab_.add_bos; }
  bool is_bpe() const { return vocab_.kind == VocabKind::kBytePair; }
  // Control tokens, including those llama.cpp treats as control by their text (<|im_end|>,
  // <|eot_id|>, FIM tokens...) whatever the file's token_type says.
  bool IsControl(int32_t id) const;
  // End of generation: eos, eot, eom, <|im_end|>, <|eot_id|>, <|end_of_text|>, <|endoftext|>,
  // <end_of_turn>, <|end|>... (llama.cpp's special_eog_ids).
  bool IsEog(int32_t id) const;
  const std::vector<int32_t>& eog_ids() const { return eog_ids_; }
  // The id of the token whose text is exactly `text`, or -1.
  int32_t FindToken(std::string_view text) const;
  const Vocabulary& vocabulary() const { return vocab_; }

 private:
  explicit Tokenizer(Vocabulary vocab);
  // Derives the end-of-generation set and marks control-looking tokens as control.
  void DeriveSpecialTokens();
  // Appends the SPM tokens of one stretch of raw text (spaces already escaped).
  void EncodeFragment(std::string_view text, std::vector<int32_t>& out) const;

  Vocabulary vocab_;
  // Pieces that merges may produce: every type but control, unknown and byte, so that
  // typed "<s>" or "<0x41>" can never turn into those tokens.
  absl::flat_hash_map<std::string, int32_t> piece_to_id_;
  std::vector<int32_t> byte_to_id_;  // 256 entries: <0xXX>, else the 1-char piece, else unk
  // Control, user-defined and unknown ids, longest text first: split out of the text before
  // the rest is tokenized (control and unknown only where specials are parsed).
  std::vector<int32_t> specials_;
  std::vector<int32_t> eog_ids_;             // sorted
  std::vector<std::string> decoded_pieces_;  // BPE: TokenToPiece of every id
  std::shared_ptr<const BpeModel> bpe_;      // BPE vocabularies only
};

}  // namespace tandem
