// GgufFile against the real stories260K model (facts from /work/shared/models/README.md).
#include "common/gguf/gguf_file.h"

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

using ::testing::HasSubstr;

class RealModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto f = GgufFile::Open(TANDEM_TEST_MODEL);
    ASSERT_TRUE(f.ok()) << f.status();
    file_ = f->release();
  }
  static void TearDownTestSuite() {
    delete file_;
    file_ = nullptr;
  }
  static const GgufFile* file_;
};
const GgufFile* RealModelTest::file_ = nullptr;

TEST_F(RealModelTest, Header) {
  EXPECT_EQ(file_->version(), 3u);
  EXPECT_EQ(file_->alignment(), 32u);
  EXPECT_EQ(file_->file_size(), 1185376u);
  EXPECT_EQ(file_->path(), TANDEM_TEST_MODEL);
  EXPECT_EQ(file_->metadata().size(), 19u);
  EXPECT_EQ(file_->tensors().size(), 48u);
  EXPECT_EQ(file_->data_offset() % 32, 0u);
}

TEST_F(RealModelTest, Hyperparameters) {
  EXPECT_EQ(*file_->GetString("general.architecture"), "llama");
  EXPECT_EQ(*file_->GetUint("llama.embedding_length"), 64u);
  EXPECT_EQ(*file_->GetUint("llama.feed_forward_length"), 172u);
  EXPECT_EQ(*file_->GetUint("llama.block_count"), 5u);
  EXPECT_EQ(*file_->GetUint("llama.attention.head_count"), 8u);
  EXPECT_EQ(*file_->GetUint("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(*file_->GetUint("llama.context_length"), 2048u);
  EXPECT_FLOAT_EQ(*file_->GetFloat("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_EQ(*file_->GetString("tokenizer.ggml.model"), "llama");
}

TEST_F(RealModelTest, TokenizerArrays) {
  auto tokens = file_->GetArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ((*tokens)->element_type, GgufValueType::kString);
  ASSERT_EQ((*tokens)->size(), 512u);
  EXPECT_EQ((*tokens)->strings[0], "<unk>");
  EXPECT_EQ((*tokens)->strings[1], "<s>");
  EXPECT_EQ((*tokens)->strings[2], "</s>");

  auto scores = file_->GetArray("tokenizer.ggml.scores");
  ASSERT_TRUE(scores.ok()) << scores.status();
  EXPECT_EQ((*scores)->element_type, GgufValueType::kFloat32);
  EXPECT_EQ((*scores)->size(), 512u);

  auto types = file_->GetArray("tokenizer.ggml.token_type");
  ASSERT_TRUE(types.ok()) << types.status();
  EXPECT_EQ((*types)->element_type, GgufValueType::kInt32);
  ASSERT_EQ((*types)->size(), 512u);
  int counts[7] = {};
  for (int64_t t : (*types)->ints) {
    ASSERT_GE(t, 0);
    ASSERT_LT(t, 7);
    ++counts[t];
  }
  EXPECT_EQ(counts[1], 253);
  EXPECT_EQ(counts[2], 1);
  EXPECT_EQ(counts[3], 2);
  EXPECT_EQ(counts[6], 256);
}

TEST_F(RealModelTest, TensorShapesAndTypes) {
  struct Expected {
    std::string name;
    std::vector<int64_t> shape;
  };
  std::vector<Expected> expected = {
      {"token_embd.weight", {64, 512}}, {"output.weight", {64, 512}}, {"output_norm.weight", {64}}};
  for (int i = 0; i < 5; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    expected.push_back({b + "attn_norm.weight", {64}});
    expected.push_back({b + "attn_q.weight", {64, 64}});
    expected.push_back({b + "attn_k.weight", {64, 32}});
    expected.push_back({b + "attn_v.weight", {64, 32}});
    expected.push_back({b + "attn_output.weight", {64, 64}});
    expected.push_back({b + "ffn_norm.weight", {64}});
    expected.push_back({b + "ffn_gate.weight", {64, 172}});
    expected.push_back({b + "ffn_up.weight", {64, 172}});
    expected.push_back({b + "ffn_down.weight", {172, 64}});
  }
  ASSERT_EQ(expected.size(), 48u);
  for (const Expected& e : expected) {
    const GgufTensorInfo* t = file_->FindTensor(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->shape, e.shape) << e.name;
    EXPECT_EQ(t->type, GgmlType::kF32) << e.name;
    EXPECT_EQ(t->data.size(), static_cast<size_t>(t->num_elements()) * 4) << e.name;
    EXPECT_EQ(t->offset % 32, 0u) << e.name;
  }
  EXPECT_EQ(file_->FindTensor("blk.5.attn_q.weight"), nullptr);
}

TEST_F(RealModelTest, DataIsZeroCopyAndOutputEqualsEmbedding) {
  const GgufTensorInfo* embd = file_->FindTensor("token_embd.weight");
  const GgufTensorInfo* out = file_->FindTensor("output.weight");
  ASSERT_NE(embd, nullptr);
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(embd->data.size(), out->data.size());
  EXPECT_NE(embd->data.data(), out->data.data());
  EXPECT_EQ(std::memcmp(embd->data.data(), out->data.data(), embd->data.size()), 0);
  EXPECT_EQ(embd->rows(), 512);
  EXPECT_EQ(embd->row_length(), 64);
}

TEST_F(RealModelTest, GetterErrorsNameKeyAndType) {
  auto missing = file_->GetUint("no.such.key");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no.such.key"));

  auto not_string = file_->GetString("llama.block_count");
  EXPECT_EQ(not_string.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_string.status().message(), HasSubstr("llama.block_count"));
  EXPECT_THAT(not_string.status().message(), HasSubstr("uint32"));

  auto not_uint = file_->GetUint("general.architecture");
  EXPECT_EQ(not_uint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_uint.status().message(), HasSubstr("string"));

  EXPECT_EQ(file_->GetBool("general.architecture").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(file_->GetArray("general.architecture").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(file_->GetFloat("tokenizer.ggml.tokens").status().code(),
            absl::StatusCode::kInvalidArgument);
  // GetFloat widens integers.
  EXPECT_EQ(*file_->GetFloat("llama.block_count"), 5.0);
}

TEST(GgufFileOpenTest, MissingFileIsNotFound) {
  auto f = GgufFile::Open("/nonexistent/dir/model.gguf");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(f.status().message(), HasSubstr("/nonexistent/dir/model.gguf"));
}

}  // namespace
}  // namespace tandem
