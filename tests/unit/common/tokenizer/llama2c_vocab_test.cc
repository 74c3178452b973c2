#include "common/tokenizer/llama2c_vocab.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tandem {
namespace {

// Serializes a llama2.c tokenizer.bin.
class FileBuilder {
 public:
  explicit FileBuilder(int32_t max_token_length) { Append(max_token_length); }
  FileBuilder& Token(float score, const std::string& text) {
    return Token(score, static_cast<int32_t>(text.size()), text);
  }
  FileBuilder& Token(float score, int32_t length, const std::string& text) {
    Append(score);
    Append(length);
    bytes_.insert(bytes_.end(), text.begin(), text.end());
    return *this;
  }
  std::vector<uint8_t> bytes() const { return bytes_; }

 private:
  template <typename T>
  void Append(T v) {
    uint8_t raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));
    bytes_.insert(bytes_.end(), raw, raw + sizeof(T));
  }
  std::vector<uint8_t> bytes_;
};

TEST(Llama2cVocabTest, AssignsTypesLikeTheConverter) {
  std::vector<uint8_t> file = FileBuilder(6)
                                  .Token(0, "<unk>")
                                  .Token(0, "\n<s>\n")
                                  .Token(0, "\n</s>\n")
                                  .Token(0, "<0x0A>")
                                  .Token(-1.5f, " the")
                                  .Token(-2, "")
                                  .bytes();
  absl::StatusOr<Vocabulary> vocab = ParseLlama2cVocabulary(file);
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->pieces,
            (std::vector<std::string>{"<unk>", "<s>", "</s>", "<0x0A>", "\xE2\x96\x81the", ""}));
  EXPECT_EQ(vocab->types,
            (std::vector<TokenType>{TokenType::kUnknown, TokenType::kControl, TokenType::kControl,
                                    TokenType::kByte, TokenType::kNormal, TokenType::kControl}));
  EXPECT_EQ(vocab->scores, (std::vector<float>{0, 0, 0, 0, -1.5f, -2}));
  EXPECT_EQ(vocab->unk_id, 0);
  EXPECT_EQ(vocab->bos_id, 1);
  EXPECT_EQ(vocab->eos_id, 2);
}

TEST(Llama2cVocabTest, LoadsTok512) {
  absl::StatusOr<Vocabulary> vocab =
      LoadLlama2cVocabulary(std::string(TANDEM_TOKENIZER_TESTDATA) + "/tok512.bin");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  ASSERT_EQ(vocab->pieces.size(), 512u);
  // Values as stories260K.gguf (converted from this file) stores them.
  EXPECT_EQ(vocab->pieces[3], "<0x00>");
  EXPECT_EQ(vocab->types[258], TokenType::kByte);
  EXPECT_EQ(vocab->pieces[259], "\xE2\x96\x81t");
  EXPECT_EQ(vocab->types[259], TokenType::kNormal);
  EXPECT_EQ(vocab->scores[260], -1.0f);
}

TEST(Llama2cVocabTest, RejectsMalformedFiles) {
  const std::vector<uint8_t> good =
      FileBuilder(5).Token(0, "<unk>").Token(0, "<s>").Token(0, "</s>").bytes();
  ASSERT_TRUE(ParseLlama2cVocabulary(good).ok());

  auto code = [](const std::vector<uint8_t>& bytes) {
    return ParseLlama2cVocabulary(bytes).status().code();
  };
  // Truncated anywhere: in the header, a score, a length, the text.
  for (size_t n : {size_t{0}, size_t{2}, size_t{6}, size_t{10}, good.size() - 1}) {
    EXPECT_EQ(code({good.begin(), good.begin() + n}), absl::StatusCode::kInvalidArgument) << n;
  }
  // Negative and huge lengths.
  EXPECT_EQ(code(FileBuilder(5).Token(0, -1, "").bytes()), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(FileBuilder(5).Token(0, 0x7fffffff, "ab").bytes()),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(FileBuilder(2).Token(0, "abc").bytes()), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(FileBuilder(-1).bytes()), absl::StatusCode::kInvalidArgument);
  // Fewer than the 3 special tokens.
  EXPECT_EQ(code(FileBuilder(5).Token(0, "<unk>").bytes()), absl::StatusCode::kInvalidArgument);
}

TEST(Llama2cVocabTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadLlama2cVocabulary("/nonexistent/tokenizer.bin").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tandem
