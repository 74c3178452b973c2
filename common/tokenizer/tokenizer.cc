#include "common/tokenizer/tokenizer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/tokenizer/bpe_model.h"
#include "common/tokenizer/bpe_pretokenizer.h"
#include "common/tokenizer/byte_level.h"
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

// A stretch of the input: raw text, or a special token split out of it.
struct Fragment {
  std::string_view text;  // raw text when token < 0
  int32_t token = -1;
  bool specials = false;  // raw text in which control tokens are parsed
};

// Token texts llama.cpp treats as end of generation, whatever their ids (llama-vocab.cpp).
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>",    "<|end|>",         "<|return|>",        "<|call|>", "<|flush|>",
    "<|calls|>",  "<end_of_turn>", "<|endoftext|>",   "<|eom_id|>",        "<EOT>",    "_<EOT>",
    "[EOT]",      "[EOS]",         "<|end_of_text|>", "<end_of_utterance>"};
// Texts llama.cpp takes as the end-of-turn token when tokenizer.ggml.eot_token_id is absent.
constexpr std::string_view kEotTexts[] = {"<|eot_id|>",
                                          "<|im_end|>",
                                          "<|end|>",
                                          "<end_of_turn>",
                                          "<|endoftext|>",
                                          "<|end_of_text|>",
                                          "<EOT>",
                                          "_<EOT>",
                                          "[EOT]",
                                          "<\xEF\xBD\x9C"
                                          "end\xE2\x96\x81"
                                          "of\xE2\x96\x81"
                                          "sentence\xEF\xBD\x9C>",
                                          "<end_of_utterance>"};
// Fill-in-the-middle tokens: llama.cpp marks them control, and pad/repo/file-separator end
// generation.
constexpr std::string_view kFimOtherTexts[] = {"<|fim_prefix|>",
                                               "<fim-prefix>",
                                               "<fim_prefix>",
                                               "<PRE>",
                                               "\xE2\x96\x81<PRE>",
                                               "<|code_prefix|>",
                                               "<|prefix|>",
                                               "<|fim_suffix|>",
                                               "<fim-suffix>",
                                               "<fim_suffix>",
                                               "<SUF>",
                                               "\xE2\x96\x81<SUF>",
                                               "<|code_suffix|>",
                                               "<|suffix|>",
                                               "<|fim_middle|>",
                                               "<fim-middle>",
                                               "<fim_middle>",
                                               "<MID>",
                                               "\xE2\x96\x81<MID>",
                                               "<|code_middle|>",
                                               "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
                                             "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                             "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};

template <size_t N>
bool OneOf(std::string_view text, const std::string_view (&list)[N]) {
  return std::find(std::begin(list), std::end(list), text) != std::end(list);
}

absl::Status MissingKey(std::string_view key) {
  return absl::InvalidArgumentError(absl::StrCat("GGUF has no ", AbslView(key)));
}

// GetBool with a default when the key is absent.
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
  if (*model != "llama" && *model != "gpt2") {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer.ggml.model is '", *model,
                     "'; supported: 'llama' (SentencePiece) and 'gpt2' (byte-level BPE)"));
  }
  const bool bpe = *model == "gpt2";

  Vocabulary vocab;
  vocab.kind = bpe ? VocabKind::kBytePair : VocabKind::kSentencePiece;
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

  // Defaults as llama.cpp's: SPM bos 1, eos 2, unk 0, BOS added, space prefix; BPE bos
  // and eos 11, no unk, BOS added only by the pre-tokenizers that want it, no space prefix.
  bool default_add_bos = true;
  if (bpe) {
    absl::StatusOr<const GgufArray*> merges = file.GetArray("tokenizer.ggml.merges");
    if (absl::IsNotFound(merges.status())) return MissingKey("tokenizer.ggml.merges");
    if (!merges.ok()) return merges.status();
    if ((*merges)->element_type != GgufValueType::kString) {
      return absl::InvalidArgumentError("tokenizer.ggml.merges is not a string array");
    }
    vocab.merges = (*merges)->strings;
    absl::StatusOr<std::string> pre = file.GetString("tokenizer.ggml.pre");
    if (pre.ok()) {
      vocab.pre = *pre;
    } else if (!absl::IsNotFound(pre.status())) {
      return pre.status();
    }
    ASSIGN_OR_RETURN(PreTokenizerChoice choice, ChoosePreTokenizer(vocab.pre));
    default_add_bos = choice.add_bos;
  }
  const int32_t n_tokens = static_cast<int32_t>(n);
  // Like llama.cpp, an id outside the vocabulary (converters write -1 as 0xFFFFFFFF) keeps
  // the default.
  auto id = [&](std::string_view key, int32_t fallback) -> absl::StatusOr<int32_t> {
    absl::StatusOr<uint64_t> v = file.GetUint(key);
    if (absl::IsNotFound(v.status())) return fallback;
    if (!v.ok()) return v.status();
    return *v < static_cast<uint64_t>(n_tokens) ? static_cast<int32_t>(*v) : fallback;
  };
  ASSIGN_OR_RETURN(vocab.bos_id, id("tokenizer.ggml.bos_token_id", bpe ? 11 : 1));
  ASSIGN_OR_RETURN(vocab.eos_id, id("tokenizer.ggml.eos_token_id", bpe ? 11 : 2));
  ASSIGN_OR_RETURN(vocab.unk_id, id("tokenizer.ggml.unknown_token_id", bpe ? -1 : 0));
  ASSIGN_OR_RETURN(vocab.eot_id, id("tokenizer.ggml.eot_token_id", -1));
  ASSIGN_OR_RETURN(vocab.eom_id, id("tokenizer.ggml.eom_token_id", -1));
  ASSIGN_OR_RETURN(vocab.pad_id, id("tokenizer.ggml.padding_token_id", -1));
  ASSIGN_OR_RETURN(vocab.fim_pad_id, id("tokenizer.ggml.fim_pad_token_id", -1));
  ASSIGN_OR_RETURN(vocab.fim_rep_id, id("tokenizer.ggml.fim_rep_token_id", -1));
  ASSIGN_OR_RETURN(vocab.fim_sep_id, id("tokenizer.ggml.fim_sep_token_id", -1));
  ASSIGN_OR_RETURN(vocab.add_bos,
                   OptionalBool(file, "tokenizer.ggml.add_bos_token", default_add_bos));
  ASSIGN_OR_RETURN(vocab.add_eos, OptionalBool(file, "tokenizer.ggml.add_eos_token", false));
  ASSIGN_OR_RETURN(vocab.add_space_prefix,
                   OptionalBool(file, "tokenizer.ggml.add_space_prefix", !bpe));
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
    const bool optional = std::string_view(name) == "unk" && vocab.kind == VocabKind::kBytePair;
    if ((id < 0 && !(optional && id == -1)) || (id >= 0 && static_cast<size_t>(id) >= n)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s id %d is outside the vocabulary of %d tokens", name, id, n));
    }
  }
  for (int32_t* id : {&vocab.eot_id, &vocab.eom_id, &vocab.pad_id, &vocab.fim_pad_id,
                      &vocab.fim_rep_id, &vocab.fim_sep_id}) {
    if (*id < -1 || *id >= static_cast<int64_t>(n)) *id = -1;
  }
  std::shared_ptr<const BpeModel> bpe;
  if (vocab.kind == VocabKind::kBytePair) {
    ASSIGN_OR_RETURN(PreTokenizerChoice choice, ChoosePreTokenizer(vocab.pre));
    ASSIGN_OR_RETURN(BpeModel model, BpeModel::Create(vocab.pieces, vocab.merges, choice.kind,
                                                      choice.ignore_merges));
    bpe = std::make_shared<const BpeModel>(std::move(model));
  }
  Tokenizer tokenizer(std::move(vocab));
  tokenizer.bpe_ = std::move(bpe);
  return tokenizer;
}

Tokenizer::Tokenizer(Vocabulary vocab) : vocab_(std::move(vocab)) {
  DeriveSpecialTokens();
  const int32_t n = vocab_size();
  // Every piece, later duplicates winning as in llama.cpp's token_to_id.
  absl::flat_hash_map<std::string_view, int32_t> any_piece;
  for (int32_t id = 0; id < n; ++id) {
    any_piece[vocab_.pieces[id]] = id;
    const TokenType type = vocab_.types[id];
    if (type != TokenType::kControl && type != TokenType::kUnknown && type != TokenType::kByte) {
      piece_to_id_[vocab_.pieces[id]] = id;
    }
    if ((type == TokenType::kUserDefined || type == TokenType::kControl ||
         type == TokenType::kUnknown) &&
        !vocab_.pieces[id].empty()) {
      specials_.push_back(id);
    }
  }
  if (vocab_.kind == VocabKind::kBytePair) {
    decoded_pieces_.resize(n);
    for (int32_t id = 0; id < n; ++id) {
      if (vocab_.types[id] == TokenType::kNormal) {
        decoded_pieces_[id] = DecodeByteLevel(vocab_.pieces[id]);
      } else if (vocab_.types[id] == TokenType::kUserDefined) {
        decoded_pieces_[id] = vocab_.pieces[id];
      }
    }
  }
  // llama.cpp's byte_to_token: "<0xXX>", else the byte as a one-character piece.
  byte_to_id_.assign(256, vocab_.unk_id);
  for (int b = 0; b < 256; ++b) {
    auto it = any_piece.find(absl::StrFormat("<0x%02X>", b));
    if (it == any_piece.end()) it = any_piece.find(std::string(1, static_cast<char>(b)));
    if (it != any_piece.end()) byte_to_id_[b] = it->second;
  }
  // Longer special pieces are split out first, as llama.cpp does.
  std::stable_sort(specials_.begin(), specials_.end(), [&](int32_t a, int32_t b) {
    return vocab_.pieces[a].size() > vocab_.pieces[b].size();
  });
}

void Tokenizer::DeriveSpecialTokens() {
  const int32_t n = vocab_size();
  auto make_control = [&](int32_t id) {
    if (vocab_.types[id] != TokenType::kControl) vocab_.types[id] = TokenType::kControl;
  };
  // Lowest id first where llama.cpp takes whichever its hash map yields first.
  auto find_first = [&](auto& list, int32_t& id) {
    if (id >= 0) return;
    for (int32_t i = 0; i < n && id < 0; ++i) {
      if (OneOf(vocab_.pieces[i], list)) id = i;
    }
  };
  find_first(kEotTexts, vocab_.eot_id);
  static constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
  find_first(kEomTexts, vocab_.eom_id);
  find_first(kFimPadTexts, vocab_.fim_pad_id);
  find_first(kFimRepTexts, vocab_.fim_rep_id);
  find_first(kFimSepTexts, vocab_.fim_sep_id);
  std::vector<int32_t> eog;
  for (int32_t id :
       {vocab_.eot_id, vocab_.eom_id, vocab_.fim_pad_id, vocab_.fim_rep_id, vocab_.fim_sep_id}) {
    if (id >= 0) make_control(id);
  }
  for (int32_t id : {vocab_.fim_pad_id, vocab_.fim_rep_id, vocab_.fim_sep_id, vocab_.eos_id,
                     vocab_.eot_id, vocab_.eom_id}) {
    if (id >= 0) eog.push_back(id);
  }
  for (int32_t i = 0; i < n; ++i) {
    const std::string& text = vocab_.pieces[i];
    if (OneOf(text, kEogTexts)) {
      eog.push_back(i);
      make_control(i);
    } else if (OneOf(text, kFimOtherTexts)) {
      make_control(i);
    }
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  eog_ids_ = std::move(eog);
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_bos) const {
  const TextSegment segment{text, /*specials=*/false};
  return EncodeSegments({&segment, 1}, add_bos);
}

std::vector<int32_t> Tokenizer::EncodeSegments(absl::Span<const TextSegment> segments,
                                               bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos) out.push_back(vocab_.bos_id);

  // Split special tokens out of the raw text, longest first (llama.cpp's
  // tokenizer_st_partition): user-defined tokens everywhere, control and unknown tokens
  // only inside segments that allow them.
  std::vector<Fragment> fragments;
  for (const TextSegment& s : segments) {
    if (!s.text.empty()) fragments.push_back({s.text, -1, s.specials});
  }
  if (fragments.empty()) return out;
  std::vector<Fragment> next;
  for (int32_t id : specials_) {
    const std::string& piece = vocab_.pieces[id];
    const bool needs_specials = vocab_.types[id] != TokenType::kUserDefined;
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token >= 0 || (needs_specials && !f.specials)) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t at; (at = rest.find(piece)) != std::string_view::npos;) {
        if (at > 0) next.push_back({rest.substr(0, at), -1, f.specials});
        next.push_back({{}, id});
        rest.remove_prefix(at + piece.size());
      }
      if (!rest.empty()) next.push_back({rest, -1, f.specials});
    }
    fragments.swap(next);
  }

  // Raw stretches between tokens, joined across segment boundaries. Like llama.cpp, the
  // SPM space prefix goes before the first raw stretch and after every special token.
  bool after_special = true;
  std::string raw;
  auto flush = [&] {
    if (raw.empty()) return;
    if (bpe_ != nullptr) {
      bpe_->Encode(raw, out);
    } else {
      std::string escaped;
      if (vocab_.add_space_prefix && after_special) escaped = kSpaceEscape;
      escaped += absl::StrReplaceAll(raw, {{" ", kSpaceEscape}});
      EncodeFragment(escaped, out);
    }
    raw.clear();
    after_special = false;
  };
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      flush();
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    raw.append(f.text.data(), f.text.size());
  }
  flush();
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
  if (bpe_ != nullptr) return decoded_pieces_[id];
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

bool Tokenizer::IsEog(int32_t id) const {
  return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

int32_t Tokenizer::FindToken(std::string_view text) const {
  for (int32_t id = vocab_size() - 1; id >= 0; --id) {
    if (vocab_.pieces[id] == text) return id;
  }
  return -1;
}

}  // namespace tandem
