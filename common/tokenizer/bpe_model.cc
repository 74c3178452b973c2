#include "common/tokenizer/bpe_model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/unicode_text.h"
#include "common/util/string_view_compat.h"

namespace tandem {
namespace {

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace

int32_t BpeModel::SymbolId(const std::string& text, bool create) {
  auto it = piece_to_id_.find(text);
  if (it != piece_to_id_.end()) return it->second;
  if (!create) return -1;
  const int32_t id = n_vocab_ + static_cast<int32_t>(extra_symbols_.size());
  extra_symbols_.push_back(text);
  piece_to_id_.emplace(text, id);
  return id;
}

absl::StatusOr<BpeModel> BpeModel::Create(const std::vector<std::string>& pieces,
                                          const std::vector<std::string>& merges, PreTokenizer pre,
                                          bool ignore_merges) {
  BpeModel m;
  m.pre_ = pre;
  m.ignore_merges_ = ignore_merges;
  m.n_vocab_ = static_cast<int32_t>(pieces.size());
  m.piece_to_id_.reserve(pieces.size() + merges.size() / 8);
  for (int32_t id = 0; id < m.n_vocab_; ++id) m.piece_to_id_[pieces[id]] = id;
  for (int b = 0; b < 256; ++b) {
    m.byte_symbol_[b] = m.SymbolId(ByteLevelStrings()[b], /*create=*/true);
    auto it = m.piece_to_id_.find(std::string(1, static_cast<char>(b)));
    m.raw_byte_id_[b] = it != m.piece_to_id_.end() && it->second < m.n_vocab_ ? it->second : -1;
  }
  // Extra symbols created below are not vocabulary pieces: keep them out of the
  // whole-word lookup by remembering where the vocabulary ends (ids >= n_vocab_).
  m.merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& merge = merges[rank];
    // As llama.cpp: split at the first space after the first character.
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer.ggml.merges[", rank, "] '", merge, "' has no space"));
    }
    const std::string left = merge.substr(0, space);
    const std::string right = merge.substr(space + 1);
    const int32_t l = m.SymbolId(left, true);
    const int32_t r = m.SymbolId(right, true);
    const int32_t result = m.SymbolId(left + right, true);
    // The first occurrence of a pair keeps its rank (llama.cpp's map emplace).
    m.merges_.try_emplace(PairKey(l, r), Merge{static_cast<int32_t>(rank), result});
  }
  return m;
}

void BpeModel::Encode(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<char32_t> cps;
  thread_local std::vector<uint32_t> words;
  thread_local std::string word;
  cps.clear();
  DecodeUtf8Lossy(text, cps);
  PreTokenize(pre_, cps, words);
  size_t begin = 0;
  for (uint32_t length : words) {
    // The word's bytes (invalid input already replaced by U+FFFD, as llama.cpp does).
    word.clear();
    for (size_t i = begin; i < begin + length; ++i) AppendUtf8(cps[i], word);
    begin += length;
    EncodeWord(word, out);
  }
}

void BpeModel::EncodeWord(std::string_view word, std::vector<int32_t>& out) const {
  const auto& alphabet = ByteLevelStrings();
  if (ignore_merges_) {
    thread_local std::string encoded;
    encoded.clear();
    for (char c : word) encoded += alphabet[static_cast<uint8_t>(c)];
    auto it = piece_to_id_.find(encoded);
    if (it != piece_to_id_.end() && it->second < n_vocab_) {
      out.push_back(it->second);
      return;
    }
  }

  // One symbol per byte, linked to its live neighbours.
  struct Symbol {
    int32_t id;    // -1 once merged into its left neighbour
    int32_t next;  // -1 at the end
    int32_t prev;
    uint8_t byte;  // the first byte, for the fallback of a 1-byte symbol
  };
  struct Candidate {
    int32_t rank;
    int32_t left;
    int32_t left_id;
    int32_t right_id;
  };
  struct Later {  // lowest rank first, then leftmost
    bool operator()(const Candidate& a, const Candidate& b) const {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
  };
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;  // a min-heap under Later
  symbols.clear();
  heap.clear();
  const int32_t n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    const uint8_t b = static_cast<uint8_t>(word[i]);
    symbols.push_back({byte_symbol_[b], i + 1 < n ? i + 1 : -1, i - 1, b});
  }
  auto consider = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(PairKey(symbols[left].id, symbols[right].id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, symbols[left].id, symbols[right].id});
    std::push_heap(heap.begin(), heap.end(), Later{});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), Later{});
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = symbols[c.left];
    if (left.id != c.left_id || left.next < 0 || symbols[left.next].id != c.right_id) continue;
    Symbol& right = symbols[left.next];
    left.id = merges_.find(PairKey(c.left_id, c.right_id))->second.result;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    consider(left.prev);
    consider(c.left);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const int32_t id = symbols[i].id;
    if (id < n_vocab_) {
      out.push_back(id);
      continue;
    }
    // Not a vocabulary piece: llama.cpp looks up each byte of the symbol's byte-level text
    // as a 1-byte piece and drops the bytes that have none.
    const std::string& text = id - n_vocab_ < static_cast<int32_t>(extra_symbols_.size())
                                  ? extra_symbols_[id - n_vocab_]
                                  : alphabet[symbols[i].byte];
    for (char c : text) {
      const int32_t byte_id = raw_byte_id_[static_cast<uint8_t>(c)];
      if (byte_id >= 0) out.push_back(byte_id);
    }
  }
}

}  // namespace tandem
