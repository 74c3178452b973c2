#include "common/tokenizer/tokenizer.h"

#include <string>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/tokenizer/llama2c_vocab.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

using ::std::string_literals::operator""s;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

struct Golden {
  std::string text;
  std::vector<int32_t> ids;  // llama.cpp, no BOS
  std::string detok;         // llama.cpp's llama_detokenize of `ids`
};

// Reference ids: node-llama-cpp 3.22.1 (llama.cpp's vocabulary code),
// `model.tokenize(text)` (plain text, no BOS) on deploy/models/stories260K.gguf, and
// `model.detokenize(ids)` (llama_detokenize: special tokens hidden, one leading space
// of the first piece stripped). Byte strings written out as octal escapes.
const std::vector<Golden>& Goldens() {
  static const auto* goldens = new std::vector<Golden>{
      {"Once upon a time"s, {403, 407, 261, 378}, "Once upon a time"s},
      {"Hello world"s, {346, 306, 414, 263, 304, 341}, "Hello world"s},
      {""s, {}, ""s},
      {" "s, {410, 410}, " "s},
      {"  leading spaces"s,
       {410, 410, 278, 411, 380, 299, 262, 427, 412, 331, 419},
       "  leading spaces"s},
      {"trailing spaces   "s,
       {259, 420, 412, 290, 299, 262, 427, 412, 331, 419, 410, 410, 410},
       "trailing spaces   "s},
      {"multiple   spaces  inside"s,
       {284, 425, 421, 413, 417, 427, 305, 410, 410, 262, 427, 412, 331, 419, 410, 322, 419, 292,
        411},
       "multiple   spaces  inside"s},
      {"line one\nline two\n\nend"s,
       {278, 271, 411, 353, 411, 13, 421, 271, 411, 259, 424, 414, 13, 13, 367},
       "line one\nline two\n\nend"s},
      {"\ttab\tseparated"s,
       {410, 12, 413, 412, 430, 12, 372, 427, 295, 294, 266},
       "\ttab\tseparated"s},
      {"hello\r\nworld"s, {281, 306, 414, 16, 13, 424, 304, 341}, "hello\r\nworld"s},
      {"The year 2024 had 365 days, 12 months."s,
       {291, 348, 411, 295, 410, 479, 477, 479, 484, 381, 410, 472, 490,
        480, 328, 419, 432, 410, 475, 479, 284, 289, 413, 415, 419, 426},
       "The year 2024 had 365 days, 12 months."s},
      {"Wait... what?! (yes); \"quoted\" & 'single' - dash_underscore"s,
       {410, 448, 412, 275, 426, 426, 426, 263, 415, 294, 450, 443, 410, 489, 422, 406,
        488, 474, 313, 456, 425, 309, 266, 436, 410, 499, 410, 439, 419, 299, 305, 439,
        410, 464, 279, 412, 419, 415, 98,  425, 264, 285, 419, 429, 414, 276},
       "Wait... what?! (yes); \"quoted\" & 'single' - dash_underscore"s},
      {"caf\303\251"s, {280, 412, 431, 485}, "caf\303\251"s},
      {"\346\227\245\346\234\254\350\252\236"s,
       {410, 233, 154, 168, 233, 159, 175, 235, 173, 161},
       "\346\227\245\346\234\254\350\252\236"s},
      {"emoji \360\237\230\200 here \360\237\216\211"s,
       {344, 423, 414, 449, 417, 410, 243, 162, 155, 131, 281, 276, 410, 243, 162, 145, 140},
       "emoji \360\237\230\200 here \360\237\216\211"s},
      {"</s> and <s> injection <unk>"s,
       {410, 504, 492, 419, 505, 269, 410, 504, 419, 505, 322,
        449, 411, 429, 413, 417, 289, 410, 504, 379, 433, 505},
       "</s> and <s> injection <unk>"s},
      {"<0x41> typed as text"s,
       {410, 504, 477, 444, 484, 475, 505, 259, 422, 427, 266, 261, 419, 259, 411, 444, 413},
       "<0x41> typed as text"s},
      {"Lily said, \"Mommy, can I play with the big red ball?\""s,
       {317, 336, 432, 313, 446, 287, 343, 432, 280, 303, 359,
        337, 335, 265, 370, 352, 266, 268, 388, 450, 436},
       "Lily said, \"Mommy, can I play with the big red ball?\""s},
      {"Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."s,
       {403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
        338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433,
        426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426},
       "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."s},
      {"a"s, {261}, "a"s},
      {"\n"s, {410, 13}, "\n"s},
      {"aaaaaaaaaaaaaaaaa"s,
       {261, 412, 412, 412, 412, 412, 412, 412, 412, 412, 412, 412, 412, 412, 412, 412, 412},
       "aaaaaaaaaaaaaaaaa"s},
      {"\303\200\303\211\303\216\303\265\303\274 \303\261 \303\237"s,
       {410, 198, 131, 198, 140, 198, 145, 198, 184, 198, 191, 410, 493, 410, 198, 162},
       "\303\200\303\211\303\216\303\265\303\274 \303\261 \303\237"s},
      {"\303\242\302\226\302\201 literal"s,
       {410, 502, 197, 153, 197, 132, 278, 275, 285, 412, 421},
       "\303\242\302\226\302\201 literal"s},
      {"\342\226\201already escaped \342\226\201\342\226\201"s,
       {410, 261, 421, 276, 380, 422, 344, 419, 429, 412, 427, 266, 410, 410, 410},
       " already escaped   "s},
      {"x\000y"s, {410, 444, 3, 422}, "x\000y"s},
  };
  return *goldens;
}

// The same tool on a copy of stories260K.gguf whose tokenizer.ggml.token_type marks
// token 299 "ing" user-defined (4) and token 265 "▁the" unused (5), patched in place.
const std::vector<Golden>& UserDefinedGoldens() {
  static const auto* goldens = new std::vector<Golden>{
      {"singing king"s, {262, 299, 299, 410, 409, 299}, "singing  king"s},
      {"the thing is the theme"s,
       {265, 308, 299, 410, 410, 293, 265, 265, 423, 411},
       " thing  isme"s},
      {"ing"s, {299}, "ing"s},
      {" ing ing"s, {410, 410, 299, 410, 410, 299}, " ing  ing"s},
      {"nothing"s, {297, 309, 415, 299}, "nothing"s},
      {"bathe the"s, {268, 294, 260, 265}, "bathe"s},
      {"ingredients: sing"s, {299, 352, 266, 417, 377, 419, 467, 262, 299}, "ing redients: sing"s},
  };
  return *goldens;
}

// llama2.c's 32,000-piece Llama 2 vocabulary (tokenizer.bin, the one `tandem synth`
// uses): the same tool on a tensor-less GGUF holding that file's pieces, scores and
// types as convert-llama2c-to-ggml assigns them, loaded with {vocabOnly: true}.
const std::vector<Golden>& Llama2Goldens() {
  static const auto* goldens = new std::vector<Golden>{
      {"Once upon a time"s, {9038, 2501, 263, 931}, "Once upon a time"s},
      {"Hello world"s, {15043, 3186}, "Hello world"s},
      {""s, {}, ""s},
      {" "s, {259}, " "s},
      {"  leading spaces"s, {259, 8236, 8162}, "  leading spaces"s},
      {"trailing spaces   "s, {25053, 8162, 1678}, "trailing spaces   "s},
      {"multiple   spaces  inside"s, {2999, 259, 8162, 29871, 2768}, "multiple   spaces  inside"s},
      {"line one\nline two\n\nend"s,
       {1196, 697, 13, 1220, 1023, 13, 13, 355},
       "line one\nline two\n\nend"s},
      {"\ttab\tseparated"s, {29871, 12, 3891, 12, 25048, 630}, "\ttab\tseparated"s},
      {"hello\r\nworld"s, {22172, 30004, 13, 11526}, "hello\r\nworld"s},
      {"The year 2024 had 365 days, 12 months."s,
       {450, 1629, 29871, 29906, 29900, 29906, 29946, 750, 29871, 29941, 29953, 29945, 3841, 29892,
        29871, 29896, 29906, 7378, 29889},
       "The year 2024 had 365 days, 12 months."s},
      {"Wait... what?! (yes); \"quoted\" & 'single' - dash_underscore"s,
       {20340, 856, 825, 29973, 29991, 313, 3582,  416,   376, 339, 5715,
        29908, 669, 525, 14369, 29915, 448, 12569, 29918, 870, 414, 3221},
       "Wait... what?! (yes); \"quoted\" & 'single' - dash_underscore"s},
      {"caf\303\251"s, {274, 28059}, "caf\303\251"s},
      {"\346\227\245\346\234\254\350\252\236"s,
       {29871, 30325, 30346, 30968},
       "\346\227\245\346\234\254\350\252\236"s},
      {"emoji \360\237\230\200 here \360\237\216\211"s,
       {953, 29877, 2397, 29871, 243, 162, 155, 131, 1244, 29871, 243, 162, 145, 140},
       "emoji \360\237\230\200 here \360\237\216\211"s},
      {"</s> and <s> injection <unk>"s,
       {1533, 29879, 29958, 322, 529, 29879, 29958, 20859, 529, 2960, 29958},
       "</s> and <s> injection <unk>"s},
      {"<0x41> typed as text"s,
       {529, 29900, 29916, 29946, 29896, 29958, 13033, 408, 1426},
       "<0x41> typed as text"s},
      {"Lily said, \"Mommy, can I play with the big red ball?\""s,
       {365, 2354, 1497, 29892, 376, 29924, 290, 1357, 29892, 508, 306, 1708, 411, 278, 4802, 2654,
        8287, 3026},
       "Lily said, \"Mommy, can I play with the big red ball?\""s},
      {"Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."s,
       {9038, 2501,  263,  931,   29892, 727,  471,   263,  2217, 7826,  4257,  365,
        2354, 29889, 2296, 18012, 304,   1708, 5377,  297,  278,  14089, 29889, 3118,
        2462, 29892, 1183, 4446,  263,   4802, 29892, 2654, 8287, 29889},
       "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."s},
      {"a"s, {263}, "a"s},
      {"\n"s, {29871, 13}, "\n"s},
      {"aaaaaaaaaaaaaaaaa"s, {263, 27137, 27137, 27137, 27137}, "aaaaaaaaaaaaaaaaa"s},
      {"\303\200\303\211\303\216\303\265\303\274 \303\261 \303\237"s,
       {8526, 30062, 30126, 30084, 29993, 29871, 30046, 29871, 30034},
       "\303\200\303\211\303\216\303\265\303\274 \303\261 \303\237"s},
      {"\303\242\302\226\302\201 literal"s,
       {19406, 197, 153, 31242, 16333},
       "\303\242\302\226\302\201 literal"s},
      {"\342\226\201already escaped \342\226\201\342\226\201"s,
       {29871, 2307, 19824, 1678},
       " already escaped   "s},
      {"x\000y"s, {921, 3, 29891}, "x\000y"s},
  };
  return *goldens;
}

std::string TestdataPath(const std::string& name) {
  return std::string(TANDEM_TOKENIZER_TESTDATA) + "/" + name;
}

// tok512.bin is llama2.c's tokenizer of stories260K (the file its GGUF was made from).
Vocabulary Stories260kVocabulary() {
  absl::StatusOr<Vocabulary> vocab = LoadLlama2cVocabulary(TestdataPath("tok512.bin"));
  EXPECT_TRUE(vocab.ok()) << vocab.status();
  return vocab.ok() ? *std::move(vocab) : Vocabulary{};
}

Tokenizer Stories260kTokenizer() {
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromVocabulary(Stories260kVocabulary());
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return *std::move(tokenizer);
}

// llama_detokenize(remove_special=false, unparse_special=false): the pieces, with one
// leading space taken off the first piece (llama.cpp undoes its space prefix there).
std::string LlamaDetokenize(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string piece = tokenizer.TokenToPiece(ids[i]);
    if (i == 0 && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    text += piece;
  }
  return text;
}

void ExpectMatchesGoldens(const Tokenizer& tokenizer, const std::vector<Golden>& goldens) {
  for (const Golden& g : goldens) {
    SCOPED_TRACE(testing::PrintToString(g.text));
    EXPECT_THAT(tokenizer.Encode(g.text, /*add_bos=*/false), ElementsAreArray(g.ids));
    std::vector<int32_t> with_bos = {tokenizer.bos_id()};
    with_bos.insert(with_bos.end(), g.ids.begin(), g.ids.end());
    EXPECT_THAT(tokenizer.Encode(g.text, /*add_bos=*/true), ElementsAreArray(with_bos));
    EXPECT_EQ(LlamaDetokenize(tokenizer, g.ids), g.detok);
  }
}

TEST(TokenizerTest, MatchesLlamaCppOnStories260k) {
  ASSERT_GE(Goldens().size(), 15u);
  ExpectMatchesGoldens(Stories260kTokenizer(), Goldens());
}

TEST(TokenizerTest, FromGgufMatchesLlamaCpp) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(TANDEM_TEST_MODEL);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(tokenizer->vocab_size(), 512);
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_TRUE(tokenizer->add_bos());  // no add_bos_token key: the llama default
  EXPECT_TRUE(tokenizer->vocabulary().add_space_prefix);
  ExpectMatchesGoldens(*tokenizer, Goldens());
}

TEST(TokenizerTest, GgufVocabularyEqualsLlama2cFile) {
  // convert-llama2c-to-ggml made stories260K.gguf from tok512.bin; our loader must give
  // the same pieces, scores and types.
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(TANDEM_TEST_MODEL);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<Tokenizer> from_gguf = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(from_gguf.ok()) << from_gguf.status();
  const Vocabulary& a = from_gguf->vocabulary();
  const Vocabulary b = Stories260kVocabulary();
  EXPECT_EQ(a.pieces, b.pieces);
  EXPECT_EQ(a.scores, b.scores);
  EXPECT_EQ(a.types, b.types);
  EXPECT_EQ(a.unk_id, b.unk_id);
}

TEST(TokenizerTest, UserDefinedTokensAreSplitOutLikeLlamaCpp) {
  Vocabulary vocab = Stories260kVocabulary();
  ASSERT_EQ(vocab.pieces[299], "ing");
  ASSERT_EQ(vocab.pieces[265], "\xE2\x96\x81the");
  vocab.types[299] = TokenType::kUserDefined;
  vocab.types[265] = TokenType::kUnused;
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromVocabulary(std::move(vocab));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ExpectMatchesGoldens(*tokenizer, UserDefinedGoldens());
}

TEST(TokenizerTest, MatchesLlamaCppOnLlama2Vocabulary) {
  // testdata/llama2_tokenizer.bin (llama2.c's tokenizer.bin), shipped with the tests.
  const std::string path = TANDEM_LLAMA2_VOCAB;
  absl::StatusOr<Vocabulary> vocab = LoadLlama2cVocabulary(path);
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  ASSERT_EQ(vocab->pieces.size(), 32000u);
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromVocabulary(*std::move(vocab));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ExpectMatchesGoldens(*tokenizer, Llama2Goldens());
}

TEST(TokenizerTest, RoundTripKeepsTheSpacePrefix) {
  const Tokenizer tokenizer = Stories260kTokenizer();
  for (const Golden& g : Goldens()) {
    if (g.text.empty() || g.text.find("\xE2\x96\x81") != std::string::npos) continue;
    SCOPED_TRACE(testing::PrintToString(g.text));
    EXPECT_EQ(tokenizer.Decode(tokenizer.Encode(g.text, false)), " " + g.text);
    // BOS decodes to nothing.
    EXPECT_EQ(tokenizer.Decode(tokenizer.Encode(g.text, true)), " " + g.text);
  }
}

TEST(TokenizerTest, EmptyText) {
  const Tokenizer tokenizer = Stories260kTokenizer();
  EXPECT_THAT(tokenizer.Encode("", true), ElementsAre(1));
  EXPECT_THAT(tokenizer.Encode("", false), ElementsAre());
}

TEST(TokenizerTest, SpecialTokenTextNeverBecomesControlTokens) {
  const Tokenizer tokenizer = Stories260kTokenizer();
  std::vector<int32_t> ids = tokenizer.Encode("</s><s><unk>", false);
  for (int32_t id : ids) {
    EXPECT_FALSE(tokenizer.IsControl(id)) << id;
    EXPECT_NE(id, tokenizer.vocabulary().unk_id);
  }
  EXPECT_EQ(tokenizer.Decode(ids), " </s><s><unk>");
}

TEST(TokenizerTest, PiecesOfSpecialAndByteTokens) {
  const Tokenizer tokenizer = Stories260kTokenizer();
  EXPECT_EQ(tokenizer.TokenToPiece(0), "");  // unknown: hidden, as llama.cpp
  EXPECT_EQ(tokenizer.TokenToPiece(1), "");
  EXPECT_EQ(tokenizer.TokenToPiece(2), "");
  EXPECT_EQ(tokenizer.TokenToPiece(3), "\0"s);     // <0x00>
  EXPECT_EQ(tokenizer.TokenToPiece(13), "\n");     // <0x0A>
  EXPECT_EQ(tokenizer.TokenToPiece(258), "\xFF");  // <0xFF>
  EXPECT_EQ(tokenizer.TokenToPiece(265), " the");
  EXPECT_EQ(tokenizer.TokenToPiece(-1), "");
  EXPECT_EQ(tokenizer.TokenToPiece(512), "");
  EXPECT_TRUE(tokenizer.IsControl(1));
  EXPECT_TRUE(tokenizer.IsControl(2));
  EXPECT_FALSE(tokenizer.IsControl(0));
  EXPECT_FALSE(tokenizer.IsControl(300));
  // llama.cpp: detokenize([0, 5, 0]) == "\x02" (node-llama-cpp, as above).
  EXPECT_EQ(tokenizer.Decode({0, 5, 0}), "\x02");
}

TEST(TokenizerTest, InvalidUtf8BecomesByteTokens) {
  const Tokenizer tokenizer = Stories260kTokenizer();
  // Stray continuation byte, truncated 3-byte sequence at the end, 0xFF, a lead byte
  // followed by ASCII. Every byte must come back out.
  const std::string inputs[] = {"a\x80z", "ok\xE2\x96", "\xFF\xFE", "\xC3(x", "\xF0"};
  for (const std::string& text : inputs) {
    SCOPED_TRACE(testing::PrintToString(text));
    std::vector<int32_t> ids = tokenizer.Encode(text, false);
    for (int32_t id : ids) {
      EXPECT_GE(id, 3);
      EXPECT_LT(id, tokenizer.vocab_size());
    }
    EXPECT_EQ(tokenizer.Decode(ids), " " + text);
  }
  // As llama.cpp's unicode_len_utf8: the lead byte 0xC3 takes '(' into its symbol, so
  // '(' is a byte token here, not the piece it would be alone.
  EXPECT_THAT(tokenizer.Encode("\xC3(", false), ElementsAre(410, 0xC3 + 3, '(' + 3));
}

TEST(TokenizerTest, MissingByteTokensFallBackToUnknown) {
  Vocabulary vocab;
  vocab.pieces = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "<0x62>"};
  vocab.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl,
                 TokenType::kNormal,  TokenType::kNormal,  TokenType::kByte};
  vocab.scores.assign(vocab.pieces.size(), 0.0f);
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromVocabulary(vocab);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  // "▁" "a" normal, "b" through <0x62>, "c" has no token at all.
  EXPECT_THAT(tokenizer->Encode("abc", false), ElementsAre(3, 4, 5, 0));
}

TEST(TokenizerTest, HighestScoreMergesFirstTiesLeftmost) {
  Vocabulary vocab;
  vocab.pieces = {"<unk>", "<s>", "</s>", "a", "b", "ab", "ba", "aba"};
  vocab.types.assign(vocab.pieces.size(), TokenType::kNormal);
  vocab.types[0] = TokenType::kUnknown;
  vocab.types[1] = vocab.types[2] = TokenType::kControl;
  vocab.scores = {0, 0, 0, 0, 0, -1, -1, -2};
  vocab.add_space_prefix = false;
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromVocabulary(vocab);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  // "ab" and "ba" tie: the leftmost pair wins, then "ab"+"a" -> "aba".
  EXPECT_THAT(tokenizer->Encode("aba", false), ElementsAre(7));
  EXPECT_THAT(tokenizer->Encode("abab", false), ElementsAre(5, 5));
  vocab.scores[6] = 0.5f;  // now "ba" goes first: a|ba|b, then "a"+"ba" -> "aba"
  tokenizer = Tokenizer::FromVocabulary(vocab);
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_THAT(tokenizer->Encode("abab", false), ElementsAre(7, 4));
}

TEST(TokenizerTest, LongTextIsFast) {
  const Tokenizer tokenizer = Stories260kTokenizer();
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "Once upon a time, there was a little girl. ";
  std::vector<int32_t> ids = tokenizer.Encode(text, false);
  EXPECT_EQ(tokenizer.Decode(ids), " " + text);
  EXPECT_GT(ids.size(), 5000u);
}

TEST(TokenizerTest, FromVocabularyRejectsBadVocabularies) {
  Vocabulary empty;
  EXPECT_EQ(Tokenizer::FromVocabulary(empty).status().code(), absl::StatusCode::kInvalidArgument);

  Vocabulary v = Stories260kVocabulary();
  Vocabulary short_scores = v;
  short_scores.scores.pop_back();
  EXPECT_EQ(Tokenizer::FromVocabulary(short_scores).status().code(),
            absl::StatusCode::kInvalidArgument);
  Vocabulary bad_type = v;
  bad_type.types[7] = static_cast<TokenType>(9);
  EXPECT_EQ(Tokenizer::FromVocabulary(bad_type).status().code(),
            absl::StatusCode::kInvalidArgument);
  Vocabulary bad_eos = v;
  bad_eos.eos_id = 512;
  EXPECT_EQ(Tokenizer::FromVocabulary(bad_eos).status().code(), absl::StatusCode::kInvalidArgument);
  Vocabulary bad_bos = v;
  bad_bos.bos_id = -1;
  EXPECT_EQ(Tokenizer::FromVocabulary(bad_bos).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem
