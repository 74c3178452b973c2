#include "common/tokenizer/tokenizer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/util/status_macros.h"
#include "common/util/string_view_compat.h"

namespace tandem {
namespace {

constexpr char kSpaceEscape[] = "\xE2\x96\x81";  // U+2581 "▁"

// Bytes in the UTF-8 character a lead byte starts, from its high nibble, exactly as
// llama.cpp's unicode_len_utf8: continuation bytes are not checked, so invalid input
// still splits deterministically.
size_t Utf8Length(unsigned char lead) {
  static constexpr size_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

// One symbol of the text being merged: a byte range, linked to its live neighbours.
struct Symbol {
  int32_t prev;
  int32_t next;  // -1 at the ends
  size_t start;
  size_t length;  // 0 once merged into the symbol on its left
};

// A candidate merge of two adjacent symbols into a vocabulary piece.
struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  size_t length;  // left.length + right.length when queued; a mismatch later means stale
};

// Highest score first; among equal scores the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// A stretch of the input: raw text, or a user-defined token split out of it.
struct Fragment {
  std::string_view text;  // raw text when token < 0
  int32_t token = -1;
};

absl::Status MissingKey(std::string_view key) {
  return absl::InvalidArgumentError(absl::StrCat("GGUF has no ", AbslView(key)));
}

// GetUint / GetBool with a default when the key is absent.
absl::StatusOr<int32_t> OptionalId(const GgufFile& file, std::string_view key, int32_t fallback) {
  absl::StatusOr<uint64_t> v = file.GetUint(key);
  if (absl::IsNotFound(v.status())) return fallback;
  if (!v.ok()) return v.status();
  if (*v > static_cast<uint64_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(key), " = ", *v, " is out of range"));
  }
  return static_cast<int32_t>(*v);
}

absl::StatusOr<bool> OptionalBool(const GgufFile& file, std::string_view key, bool fallback) {
  absl::StatusOr<bool> v = file.GetBool(key);
  if (absl::IsNotFound(v.status())) return fallback;
  return v;
}

}  // namespace

absl::StatusOr<Tokenizer> Tokenizer::FromGguf(const GgufFile& file) {
  absl::StatusOr<std::string> model = file.GetString("tokenizer.ggml.model");
  if (absl::IsNotFound(model.status())) return MissingKey("tokenizer.ggml.model");
  if (!model.ok()) return model.status();
  if (*model != "llama") {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.ggml.model is '", *model,
                                                   "'; only 'llama' (SentencePiece) is supported"));
  }

  Vocabulary vocab;
  absl::StatusOr<const GgufArray*> tokens = file.GetArray("tokenizer.ggml.tokens");
  if (absl::IsNotFound(tokens.status())) return MissingKey("tokenizer.ggml.tokens");
  if (!tokens.ok()) return tokens.status();
  if ((*tokens)->element_type != GgufValueType::kString) {
    return absl::InvalidArgumentError("tokenizer.ggml.tokens is not a string array");
  }
  vocab.pieces = (*tokens)->strings;
  const size_t n = vocab.pieces.size();

  absl::StatusOr<const GgufArray*> scores = file.GetArray("tokenizer.ggml.scores");
  if (absl::IsNotFound(scores.status())) {
    vocab.scores.assign(n, 0.0f);
  } else {
    if (!scores.ok()) return scores.status();
    if ((*scores)->element_type != GgufValueType::kFloat32 &&
        (*scores)->element_type != GgufValueType::kFloat64) {
      return absl::InvalidArgumentError("tokenizer.ggml.scores is not a float array");
    }
    for (double s : (*scores)->floats) vocab.scores.push_back(static_cast<float>(s));
  }

  absl::StatusOr<const GgufArray*> types = file.GetArray("tokenizer.ggml.token_type");
  if (absl::IsNotFound(types.status())) {
    vocab.types.assign(n, TokenType::kNormal);
  } else {
    if (!types.ok()) return types.status();
    const GgufArray& t = **types;
    if (t.ints.size() != t.size()) {
      return absl::InvalidArgumentError("tokenizer.ggml.token_type is not an integer array");
    }
    for (int64_t v : t.ints) {
      if (v < static_cast<int64_t>(TokenType::kUndefined) ||
          v > static_cast<int64_t>(TokenType::kByte)) {
        return absl::InvalidArgumentError(
            absl::StrCat("tokenizer.ggml.token_type has unknown type ", v));
      }
      vocab.types.push_back(static_cast<TokenType>(v));
    }
  }

  ASSIGN_OR_RETURN(vocab.bos_id, OptionalId(file, "tokenizer.ggml.bos_token_id", 1));
  ASSIGN_OR_RETURN(vocab.eos_id, OptionalId(file, "tokenizer.ggml.eos_token_id", 2));
  ASSIGN_OR_RETURN(vocab.unk_id, OptionalId(file, "tokenizer.ggml.unknown_token_id", 0));
  ASSIGN_OR_RETURN(vocab.add_bos, OptionalBool(file, "tokenizer.ggml.add_bos_token", true));
  ASSIGN_OR_RETURN(vocab.add_space_prefix,
                   OptionalBool(file, "tokenizer.ggml.add_space_prefix", true));
  return FromVocabulary(std::move(vocab));
}

absl::StatusOr<Tokenizer> Tokenizer::FromVocabulary(Vocabulary vocab) {
  const size_t n = vocab.pieces.size();
  if (n == 0) return absl::InvalidArgumentError("the vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError("the vocabulary has too many tokens");
  }
  if (vocab.scores.size() != n || vocab.types.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vocabulary arrays differ in length: %d pieces, %d scores, %d types", n,
                        vocab.scores.size(), vocab.types.size()));
  }
  for (TokenType t : vocab.types) {
    if (t < TokenType::kUndefined || t > TokenType::kByte) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown token type ", static_cast<int32_t>(t)));
    }
  }
  for (auto [name, id] : {std::pair{"bos", vocab.bos_id}, std::pair{"eos", vocab.eos_id},
                          std::pair{"unk", vocab.unk_id}}) {
    if (id < 0 || static_cast<size_t>(id) >= n) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s id %d is outside the vocabulary of %d tokens", name, id, n));
    }
  }
  return Tokenizer(std::move(vocab));
}

Tokenizer::Tokenizer(Vocabulary vocab) : vocab_(std::move(vocab)) {
  const int32_t n = vocab_size();
  // Every piece, later duplicates winning as in llama.cpp's token_to_id.
  absl::flat_hash_map<std::string_view, int32_t> any_piece;
  for (int32_t id = 0; id < n; ++id) {
    any_piece[vocab_.pieces[id]] = id;
    const TokenType type = vocab_.types[id];
    if (type != TokenType::kControl && type != TokenType::kUnknown && type != TokenType::kByte) {
      piece_to_id_[vocab_.pieces[id]] = id;
    }
    if (type == TokenType::kUserDefined && !vocab_.pieces[id].empty()) {
      user_defined_.push_back(id);
    }
  }
  // llama.cpp's byte_to_token: "<0xXX>", else the byte as a one-character piece.
  byte_to_id_.assign(256, vocab_.unk_id);
  for (int b = 0; b < 256; ++b) {
    auto it = any_piece.find(absl::StrFormat("<0x%02X>", b));
    if (it == any_piece.end()) it = any_piece.find(std::string(1, static_cast<char>(b)));
    if (it != any_piece.end()) byte_to_id_[b] = it->second;
  }
  // Longer user-defined pieces are split out first, as llama.cpp does.
  std::stable_sort(user_defined_.begin(), user_defined_.end(), [&](int32_t a, int32_t b) {
    return vocab_.pieces[a].size() > vocab_.pieces[b].size();
  });
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos) out.push_back(vocab_.bos_id);
  if (text.empty()) return out;

  // Split user-defined tokens out of the raw text (llama.cpp does this even when it
  // does not parse control tokens).
  std::vector<Fragment> fragments = {{text, -1}};
  for (int32_t id : user_defined_) {
    const std::string& piece = vocab_.pieces[id];
    std::vector<Fragment> next;
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t at; (at = rest.find(piece)) != std::string_view::npos;) {
        if (at > 0) next.push_back({rest.substr(0, at), -1});
        next.push_back({{}, id});
        rest.remove_prefix(at + piece.size());
      }
      if (!rest.empty()) next.push_back({rest, -1});
    }
    fragments = std::move(next);
  }

  // Like llama.cpp, the space prefix goes before the first raw stretch and before any
  // raw stretch that follows a user-defined token.
  bool after_special = true;
  std::string escaped;
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    escaped.clear();
    if (vocab_.add_space_prefix && after_special) escaped = kSpaceEscape;
    escaped += absl::StrReplaceAll(AbslView(f.text), {{" ", kSpaceEscape}});
    EncodeFragment(escaped, out);
    after_special = false;
  }
  return out;
}

void Tokenizer::EncodeFragment(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  // Start from one symbol per UTF-8 character.
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offset = 0; offset < text.size();) {
    const size_t length =
        std::min(text.size() - offset, Utf8Length(static_cast<unsigned char>(text[offset])));
    const int32_t index = static_cast<int32_t>(symbols.size());
    offset += length;
    symbols.push_back({index - 1, offset == text.size() ? -1 : index + 1, offset - length, length});
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::string_view merged =
        text.substr(symbols[left].start, symbols[left].length + symbols[right].length);
    auto it = piece_to_id_.find(AbslView(merged));
    if (it == piece_to_id_.end()) return;
    queue.push({vocab_.scores[it->second], left, right, merged.size()});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  // Merge the best pair until no adjacent pair forms a piece: O(n log n) overall.
  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    // Stale: one side was merged away or grew since the pair was queued.
    if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) {
      continue;
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const std::string_view piece = text.substr(symbols[i].start, symbols[i].length);
    auto it = piece_to_id_.find(AbslView(piece));
    if (it != piece_to_id_.end()) {
      out.push_back(it->second);
      continue;
    }
    for (char c : piece) out.push_back(byte_to_id_[static_cast<unsigned char>(c)]);
  }
}

std::string Tokenizer::TokenToPiece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  const std::string& piece = vocab_.pieces[id];
  switch (vocab_.types[id]) {
    case TokenType::kNormal:
      return absl::StrReplaceAll(piece, {{kSpaceEscape, " "}});
    case TokenType::kUserDefined:
      return piece;
    case TokenType::kByte: {
      // "<0xXX>": the two hex digits after "<0x".
      int value = 0;
      if (piece.size() < 5 || !absl::SimpleHexAtoi(piece.substr(3, 2), &value)) return "";
      return std::string(1, static_cast<char>(value));
    }
    default:  // control, unknown, unused, undefined: nothing, like llama.cpp
      return "";
  }
}

std::string Tokenizer::Decode(absl::Span<const int32_t> ids) const {
  std::string text;
  for (int32_t id : ids) text += TokenToPiece(id);
  return text;
}

bool Tokenizer::IsControl(int32_t id) const {
  return id >= 0 && id < vocab_size() && vocab_.types[id] == TokenType::kControl;
}

}  // namespace tandem
