// Byte-level BPE on a small hand-made vocabulary: merge order, special tokens kept out of
// user text, segments, invalid UTF-8 (llama.cpp's rule: each invalid byte reads as U+FFFD),
// the end-of-generation set and the pre-tokenizers' splits. The real vocabularies are
// checked against llama.cpp in tests/integration/tokenizer.
#include <random>
#include <string>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/gguf/gguf_writer.h"
#include "common/tokenizer/bpe_pretokenizer.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/hf_tokenizer_json.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/unicode_text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

// The 256 byte-level characters (ids 0..255 by byte), merges for " the", "he", "12", and
// the special tokens of a ChatML model.
Vocabulary SmallVocabulary(const std::string& pre) {
  Vocabulary v;
  v.kind = VocabKind::kBytePair;
  v.pre = pre;
  for (int b = 0; b < 256; ++b) {
    v.pieces.push_back(ByteLevelStrings()[b]);
    v.types.push_back(TokenType::kNormal);
  }
  auto add = [&](const std::string& piece, TokenType type) {
    v.pieces.push_back(piece);
    v.types.push_back(type);
    return static_cast<int32_t>(v.pieces.size() - 1);
  };
  add("he", TokenType::kNormal);              // 256
  add("\xC4\xA0t", TokenType::kNormal);       // 257 "Ġt"
  add("\xC4\xA0the", TokenType::kNormal);     // 258 "Ġthe"
  add("12", TokenType::kNormal);              // 259
  add("<|im_start|>", TokenType::kControl);   // 260
  add("<|im_end|>", TokenType::kControl);     // 261
  add("<|endoftext|>", TokenType::kControl);  // 262
  add("<think>", TokenType::kUserDefined);    // 263
  v.merges = {"h e", "\xC4\xA0 t", "\xC4\xA0t he", "1 2"};
  v.scores.assign(v.pieces.size(), 0.0f);
  v.bos_id = 262;
  v.eos_id = 261;
  v.unk_id = -1;
  v.add_bos = false;
  v.add_space_prefix = false;
  return v;
}

Tokenizer Small(const std::string& pre = "qwen2") {
  absl::StatusOr<Tokenizer> t = Tokenizer::FromVocabulary(SmallVocabulary(pre));
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

TEST(BpeTokenizerTest, MergesByRank) {
  const Tokenizer t = Small();
  EXPECT_THAT(t.Encode(" the", false), ElementsAre(258));
  EXPECT_THAT(t.Encode("the", false), ElementsAre('t', 256));
  EXPECT_THAT(t.Encode(" th", false), ElementsAre(257, 'h'));
  EXPECT_EQ(t.Decode(t.Encode("say the word", false)), "say the word");
}

TEST(BpeTokenizerTest, PiecesDecodeFromTheByteAlphabet) {
  const Tokenizer t = Small();
  EXPECT_EQ(t.TokenToPiece(258), " the");
  EXPECT_EQ(t.TokenToPiece(0xE4), "\xE4");  // one byte of a multibyte character
  EXPECT_EQ(t.TokenToPiece(261), "");       // control tokens print nothing
  EXPECT_EQ(t.TokenToPiece(263), "<think>");
  EXPECT_EQ(t.Decode(t.Encode("\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x91\x8D", false)),
            "\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x91\x8D");
}

TEST(BpeTokenizerTest, TypedControlTextStaysText) {
  const Tokenizer t = Small();
  const std::vector<int32_t> typed = t.Encode("<|im_start|>system<|im_end|>", false);
  EXPECT_THAT(typed, Not(Contains(260)));
  EXPECT_THAT(typed, Not(Contains(261)));
  EXPECT_EQ(t.Decode(typed), "<|im_start|>system<|im_end|>");
  // User-defined tokens are split out of any text, as llama.cpp does.
  EXPECT_THAT(t.Encode("<think>", false), ElementsAre(263));
  // Only segments marked `specials` parse control tokens.
  const TextSegment segments[] = {
      {"<|im_start|>user\n", true}, {"<|im_end|> hi", false}, {"<|im_end|>\n", true}};
  std::vector<int32_t> ids = t.EncodeSegments(segments, false);
  EXPECT_EQ(ids.front(), 260);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 261), 1);
  EXPECT_EQ(ids[ids.size() - 2], 261);
}

TEST(BpeTokenizerTest, SegmentsTokenizeAsOneText) {
  const Tokenizer t = Small();
  // " the" spans the boundary: the ids are those of the joined text.
  const TextSegment segments[] = {{"say ", true}, {"\n\n", false}, {"\n the", false}};
  EXPECT_EQ(t.EncodeSegments(segments, false), t.Encode("say \n\n\n the", false));
}

TEST(BpeTokenizerTest, InvalidUtf8ReadsAsReplacementCharacters) {
  const Tokenizer t = Small();
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(t.Encode("\xFF\xFE"
                     "ab",
                     false),
            t.Encode(fffd + fffd + "ab", false));
  EXPECT_EQ(t.Encode("x\xE4\xBD", false), t.Encode("x" + fffd + fffd, false));  // truncated
  EXPECT_EQ(t.Encode("\x80 the", false), t.Encode(fffd + " the", false));       // stray byte
  EXPECT_EQ(t.Encode("\xF4\x90\x80\x80", false),                                // beyond U+10FFFF
            t.Encode(fffd + fffd + fffd + fffd, false));
}

TEST(BpeTokenizerTest, RandomBytesNeverCrash) {
  for (const char* pre : {"qwen2", "llama-bpe", "gpt-2", "smollm", "default"}) {
    const Tokenizer t = Small(pre);
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
      std::string s(rng() % 40, '\0');
      for (char& c : s) c = static_cast<char>(rng());
      std::vector<int32_t> ids = t.Encode(s, true);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < t.vocab_size());
    }
  }
}

TEST(BpeTokenizerTest, EndOfGenerationSet) {
  const Tokenizer t = Small();
  EXPECT_TRUE(t.IsEog(261));   // eos, <|im_end|>
  EXPECT_TRUE(t.IsEog(262));   // <|endoftext|>
  EXPECT_FALSE(t.IsEog(260));  // <|im_start|>
  EXPECT_FALSE(t.IsEog(258));
}

std::vector<std::string> Words(PreTokenizer kind, const std::string& text) {
  std::vector<char32_t> cps;
  DecodeUtf8Lossy(text, cps);
  std::vector<uint32_t> lengths;
  PreTokenize(kind, cps, lengths);
  std::vector<std::string> words;
  size_t at = 0;
  for (uint32_t n : lengths) {
    std::string w;
    for (size_t i = at; i < at + n; ++i) AppendUtf8(cps[i], w);
    words.push_back(w);
    at += n;
  }
  return words;
}

TEST(BpePreTokenizerTest, Llama3) {
  EXPECT_THAT(Words(PreTokenizer::kLlama3, "12345 abc"), ElementsAre("123", "45", " abc"));
  EXPECT_THAT(Words(PreTokenizer::kLlama3, "a   b"), ElementsAre("a", "  ", " b"));
  EXPECT_THAT(Words(PreTokenizer::kLlama3, "x \r\n\r\n  y"),
              ElementsAre("x", " \r\n\r\n", " ", " y"));
  EXPECT_THAT(Words(PreTokenizer::kLlama3, "I'LL don't"), ElementsAre("I", "'LL", " don", "'t"));
  EXPECT_THAT(Words(PreTokenizer::kLlama3, "hi!!\n\nyo  "),
              ElementsAre("hi", "!!\n\n", "yo", "  "));
  EXPECT_THAT(Words(PreTokenizer::kLlama3, "\xE4\xBD\xA0\xE5\xA5\xBD!"),
              ElementsAre("\xE4\xBD\xA0\xE5\xA5\xBD", "!"));
}

TEST(BpePreTokenizerTest, Qwen2SplitsEveryDigit) {
  EXPECT_THAT(Words(PreTokenizer::kQwen2, "x1234"), ElementsAre("x", "1", "2", "3", "4"));
}

TEST(BpePreTokenizerTest, Gpt2AndSmolLm) {
  EXPECT_THAT(Words(PreTokenizer::kGpt2, "hello   world 2024!"),
              ElementsAre("hello", "  ", " world", " 2024", "!"));
  EXPECT_THAT(Words(PreTokenizer::kDigitsGpt2, "v 2024"),
              ElementsAre("v", " ", "2", "0", "2", "4"));
}

TEST(BpePreTokenizerTest, ChoosesAsLlamaCpp) {
  EXPECT_EQ(ChoosePreTokenizer("llama-bpe")->kind, PreTokenizer::kLlama3);
  EXPECT_TRUE(ChoosePreTokenizer("llama-bpe")->ignore_merges);
  EXPECT_TRUE(ChoosePreTokenizer("llama-bpe")->add_bos);
  EXPECT_EQ(ChoosePreTokenizer("qwen2")->kind, PreTokenizer::kQwen2);
  EXPECT_EQ(ChoosePreTokenizer("smollm")->kind, PreTokenizer::kDigitsGpt2);
  EXPECT_EQ(ChoosePreTokenizer("gpt-2")->kind, PreTokenizer::kGpt2);
  EXPECT_EQ(ChoosePreTokenizer("")->kind, PreTokenizer::kDefault);
  EXPECT_FALSE(ChoosePreTokenizer("no-such-tokenizer")->known);
  EXPECT_EQ(ChoosePreTokenizer("deepseek-llm").status().code(), absl::StatusCode::kUnimplemented);
}

TEST(BpeTokenizerTest, FromGgufRoundTrip) {
  const Vocabulary v = SmallVocabulary("qwen2");
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  WriteTokenizerKeys(v, "", w);
  const std::string path = testing::TempDir() + "/bpe_vocab.gguf";
  ASSERT_TRUE(w.Write(path).ok());
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  auto t = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->is_bpe());
  EXPECT_THAT(t->Encode(" the", false), ElementsAre(258));
  EXPECT_EQ(t->eos_id(), 261);
  EXPECT_FALSE(t->add_bos());
}

TEST(BpeTokenizerTest, RejectsBadMerges) {
  Vocabulary v = SmallVocabulary("qwen2");
  v.merges.push_back("nospace");
  EXPECT_EQ(Tokenizer::FromVocabulary(v).status().code(), absl::StatusCode::kInvalidArgument);
  v = SmallVocabulary("deepseek-coder");
  EXPECT_EQ(Tokenizer::FromVocabulary(v).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace tandem
