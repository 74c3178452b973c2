#include "common/tokenizer/bpe_pretokenizer.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/unicode_text.h"
#include "common/util/string_view_compat.h"

namespace tandem {
namespace {

// A range [begin, end) of code points, and the word lengths a splitter emits for it.
class Splitter {
 public:
  Splitter(const std::vector<char32_t>& cps, size_t begin, size_t end, std::vector<uint32_t>& out)
      : cps_(cps), begin_(begin), end_(end), out_(out), prev_end_(begin) {}

  // Positions outside the range read as "nothing" (no class, not a code point).
  bool In(size_t pos) const { return pos >= begin_ && pos < end_; }
  char32_t Cp(size_t pos) const { return In(pos) ? cps_[pos] : kNone; }
  uint8_t Cls(size_t pos) const { return In(pos) ? CodepointClass(cps_[pos]) : 0; }
  bool Letter(size_t pos) const { return Cls(pos) & kClassLetter; }
  bool Number(size_t pos) const { return Cls(pos) & kClassNumber; }
  bool Space(size_t pos) const { return Cls(pos) & kClassWhitespace; }
  // [^\s\p{L}\p{N}]: any code point that is none of those.
  bool Other(size_t pos) const {
    return In(pos) && !(Cls(pos) & (kClassLetter | kClassNumber | kClassWhitespace));
  }

  // Ends the current word at `end`; returns its length.
  size_t Emit(size_t end) {
    const size_t length = end - prev_end_;
    if (length > 0) out_.push_back(static_cast<uint32_t>(length));
    prev_end_ = end;
    return length;
  }

  size_t begin() const { return begin_; }
  size_t end() const { return end_; }

  static constexpr char32_t kNone = 0xFFFFFFFF;

 private:
  const std::vector<char32_t>& cps_;
  size_t begin_, end_;
  std::vector<uint32_t>& out_;
  size_t prev_end_;
};

char32_t AsciiLower(char32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// Length of a contraction ('s 't 're 've 'm 'll 'd) at pos, 0 if none.
size_t Contraction(const Splitter& s, size_t pos, bool ignore_case) {
  if (s.Cp(pos) != '\'') return 0;
  auto lower = [&](size_t p) { return ignore_case ? AsciiLower(s.Cp(p)) : s.Cp(p); };
  const char32_t a = lower(pos + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  const char32_t b = lower(pos + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// Whitespace words shared by the regexes: \s+(?!\S) leaves the last space of a run for the
// next word; at the end of the range the whole run is one word.
bool EmitSpaces(Splitter& s, size_t& pos) {
  size_t n = 0;
  while (s.Space(pos + n)) ++n;
  if (n == 0) return false;
  pos += (n > 1 && s.In(pos + n)) ? n - 1 : n;
  s.Emit(pos);
  return true;
}

// The Llama 3 regex; max_digits 3 (Llama 3) or 1 (Qwen 2).
void SplitLlama3(Splitter& s, size_t max_digits) {
  for (size_t pos = s.begin(); pos < s.end();) {
    const char32_t cp = s.Cp(pos);
    if (size_t n = Contraction(s, pos, /*ignore_case=*/true)) {
      pos += n;
      s.Emit(pos);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!(cp == '\r' || cp == '\n' || s.Number(pos)) && (s.Letter(pos) || s.Letter(pos + 1))) {
      ++pos;
      while (s.Letter(pos)) ++pos;
      s.Emit(pos);
      continue;
    }
    // \p{N}{1,max_digits}
    if (s.Number(pos)) {
      size_t start = pos;
      while (s.Number(pos)) {
        if (++pos - start >= max_digits) {
          s.Emit(pos);
          start = pos;
        }
      }
      s.Emit(pos);
      continue;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    if (s.Other(pos) || (cp == ' ' && s.Other(pos + 1))) {
      if (cp == ' ') ++pos;
      while (s.Other(pos)) ++pos;
      while (s.Cp(pos) == '\r' || s.Cp(pos) == '\n') ++pos;
      s.Emit(pos);
      continue;
    }
    // \s*[\r\n]+ : up to the last line break of the whitespace run.
    size_t run = 0, last_break = 0;
    while (s.Space(pos + run)) {
      const char32_t c = s.Cp(pos + run);
      if (c == '\r' || c == '\n') last_break = pos + run + 1;
      ++run;
    }
    if (last_break > 0) {
      pos = last_break;
      s.Emit(pos);
      continue;
    }
    if (EmitSpaces(s, pos)) continue;
    s.Emit(++pos);  // not reached for valid classes; kept as llama.cpp's "no match"
  }
}

// The GPT-2 regex.
void SplitGpt2(Splitter& s) {
  for (size_t pos = s.begin(); pos < s.end();) {
    const char32_t cp = s.Cp(pos);
    if (size_t n = Contraction(s, pos, /*ignore_case=*/false)) {
      pos += n;
      s.Emit(pos);
      continue;
    }
    const size_t at = cp == ' ' ? pos + 1 : pos;  // the optional leading space
    if (s.Letter(at)) {                           // ' ?\p{L}+'
      pos = at;
      while (s.Letter(pos)) ++pos;
      s.Emit(pos);
      continue;
    }
    if (s.Number(at)) {  // ' ?\p{N}+'
      pos = at;
      while (s.Number(pos)) ++pos;
      s.Emit(pos);
      continue;
    }
    if (s.Other(at)) {  // ' ?[^\s\p{L}\p{N}]+'
      pos = at;
      while (s.Other(pos)) ++pos;
      s.Emit(pos);
      continue;
    }
    if (EmitSpaces(s, pos)) continue;
    s.Emit(++pos);
  }
}

// A regex of one character class, as llama.cpp's std::regex path splits with it: each
// match is a word and so is each stretch between matches. `runs`: the class+ (else each
// matching code point alone).
template <typename Pred>
void SplitClass(Splitter& s, Pred in_class, bool runs) {
  for (size_t pos = s.begin(); pos < s.end();) {
    if (in_class(pos)) {
      ++pos;
      while (runs && pos < s.end() && in_class(pos)) ++pos;
    } else {
      while (pos < s.end() && !in_class(pos)) ++pos;
    }
    s.Emit(pos);
  }
}

// [0-9][0-9][0-9], searched left to right.
void SplitThreeDigits(Splitter& s) {
  auto digit = [&](size_t p) { return s.Cp(p) >= '0' && s.Cp(p) <= '9'; };
  for (size_t pos = s.begin(); pos < s.end();) {
    if (digit(pos) && digit(pos + 1) && digit(pos + 2)) {
      s.Emit(pos);
      pos += 3;
      s.Emit(pos);
    } else {
      ++pos;
    }
  }
  s.Emit(s.end());
}

// [\p{P}\$\+<=>\^~\|]: in llama.cpp's collapsed-text regex, ASCII punctuation and symbols
// except '`', and non-ASCII code points of category P.
bool PunctuationForDefault(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x5F) ||
           (cp >= 0x7B && cp <= 0x7E);
  }
  const uint8_t c = CodepointClass(cp);
  return (c & kClassPunctuation) && !(c & kClassWhitespace);
}

enum class Stage { kLlama3, kQwen2, kGpt2, kEachNumber, kNumberRuns, kPunctRuns, kThreeDigits };

std::vector<Stage> Stages(PreTokenizer kind) {
  switch (kind) {
    case PreTokenizer::kLlama3:
      return {Stage::kLlama3};
    case PreTokenizer::kQwen2:
      return {Stage::kQwen2};
    case PreTokenizer::kGpt2:
      return {Stage::kGpt2};
    case PreTokenizer::kDigitsGpt2:
      return {Stage::kEachNumber, Stage::kGpt2};
    case PreTokenizer::kDefault:
      break;
  }
  return {Stage::kPunctRuns, Stage::kGpt2, Stage::kNumberRuns, Stage::kThreeDigits};
}

void RunStage(Stage stage, Splitter& s, const std::vector<char32_t>& cps) {
  switch (stage) {
    case Stage::kLlama3:
      return SplitLlama3(s, 3);
    case Stage::kQwen2:
      return SplitLlama3(s, 1);
    case Stage::kGpt2:
      return SplitGpt2(s);
    case Stage::kEachNumber:
      return SplitClass(
          s, [&](size_t p) { return s.Number(p); }, /*runs=*/false);
    case Stage::kNumberRuns:
      return SplitClass(
          s, [&](size_t p) { return s.Number(p); }, /*runs=*/true);
    case Stage::kPunctRuns:
      return SplitClass(
          s, [&](size_t p) { return PunctuationForDefault(cps[p]); }, true);
    case Stage::kThreeDigits:
      return SplitThreeDigits(s);
  }
}

}  // namespace

absl::StatusOr<PreTokenizerChoice> ChoosePreTokenizer(std::string_view pre) {
  auto in = [&](std::initializer_list<std::string_view> names) {
    return std::find(names.begin(), names.end(), pre) != names.end();
  };
  if (pre == "default") return PreTokenizerChoice{};
  if (in({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
          "lfm2"})) {
    return PreTokenizerChoice{
        .kind = PreTokenizer::kLlama3, .ignore_merges = true, .add_bos = true};
  }
  if (in({"dbrx", "smaug-bpe"})) return PreTokenizerChoice{.kind = PreTokenizer::kLlama3};
  if (in({"qwen2", "deepseek-r1-qwen", "kormo", "megrez", "stablelm2", "hunyuan", "grok-2"})) {
    return PreTokenizerChoice{.kind = PreTokenizer::kQwen2};
  }
  if (in({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
          "mellum", "modern-bert", "mpt", "olmo", "jais", "trillion", "granite-docling",
          "exaone4"})) {
    return PreTokenizerChoice{.kind = PreTokenizer::kGpt2};
  }
  if (in({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"})) {
    return PreTokenizerChoice{.kind = PreTokenizer::kDigitsGpt2};
  }
  if (in({"deepseek-llm", "deepseek-coder", "deepseek-v3",   "youtu",       "falcon",
          "jais-2",       "jina-v1-en",     "jina-v2-code",  "roberta-bpe", "qwen35",
          "poro-chat",    "glm4",           "chatglm-bpe",   "viking",      "tekken",
          "bloom",        "gpt3-finnish",   "exaone-moe",    "chameleon",   "gpt-4o",
          "llama4",       "tiny_aya",       "superbpe",      "bailingmoe",  "bailingmoe2",
          "llada-moe",    "seed-coder",     "hunyuan-dense", "joyai-llm",   "kimi-k2",
          "afmoe",        "minimax-m2",     "solar-open"})) {
    return absl::UnimplementedError(
        absl::StrCat("tokenizer.ggml.pre '", AbslView(pre),
                     "' is not supported (supported: default, llama-bpe and its aliases, qwen2, "
                     "gpt-2, smollm/starcoder and their aliases)"));
  }
  // Like llama.cpp: a missing or unknown name gets the default pre-tokenizer.
  return PreTokenizerChoice{.known = false};
}

void PreTokenize(PreTokenizer kind, const std::vector<char32_t>& cps,
                 std::vector<uint32_t>& words) {
  words.clear();
  if (cps.empty()) return;
  words.push_back(static_cast<uint32_t>(cps.size()));
  std::vector<uint32_t> next;
  for (Stage stage : Stages(kind)) {
    next.clear();
    size_t begin = 0;
    for (uint32_t length : words) {
      Splitter s(cps, begin, begin + length, next);
      RunStage(stage, s, cps);
      begin += length;
    }
    words.swap(next);
  }
}

}  // namespace tandem
