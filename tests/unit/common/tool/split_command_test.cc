// `tandem split` on the real model: what each shard holds, split output over the shards
// equal (bit for bit, f32 codec) to split output over the whole file at every K, tied
// heads, re-quantized edge shards, and the loader refusing parts a shard does not hold.
#include <cstring>
#include <filesystem>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/codec/hidden_codec.h"
#include "common/gguf/gguf_writer.h"
#include "common/model/layer_runner.h"
#include "common/model/llama_model.h"
#include "common/model/shard_info.h"
#include "common/tool/commands.h"
#include "common/util/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/split_pipeline.h"

namespace tandem {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path TempPath(const std::string& name) { return fs::path(testing::TempDir()) / name; }

struct Shards {
  std::string edge, cloud, report;
};

absl::StatusOr<Shards> Split(const std::string& model, int32_t k, const std::string& tag,
                             const std::string& edge_type = "") {
  SplitConfig config;
  config.input_path = model;
  config.split = k;
  config.edge_output_path = TempPath(absl::StrCat(tag, "-edge.gguf"));
  config.cloud_output_path = TempPath(absl::StrCat(tag, "-cloud.gguf"));
  config.edge_type = edge_type;
  std::ostringstream out, err;
  RETURN_IF_ERROR(RunSplit(config, out, err));
  return Shards{config.edge_output_path, config.cloud_output_path, out.str()};
}

// The bytes of tensor `name` in `file`.
std::vector<uint8_t> TensorBytes(const GgufFile& file, const std::string& name) {
  const GgufTensorInfo* t = file.FindTensor(name);
  if (t == nullptr) return {};
  return std::vector<uint8_t>(t->data.begin(), t->data.end());
}

// A split run: the edge part (embedding + [0, K)) of one model, the f32 codec, the cloud
// part ([K, N) + head) of another; returns the logits after every step (prompt, then
// greedy tokens), so two runs can be compared bit for bit.
absl::StatusOr<std::vector<std::vector<float>>> SplitLogits(const LlamaModel& edge,
                                                            const LlamaModel& cloud, int32_t k,
                                                            int steps) {
  ThreadPool pool(2);
  ASSIGN_OR_RETURN(auto pipeline, testing_util::SplitPipeline::Create(
                                      edge, cloud, k, GetHiddenCodec(CodecKind::kF32), 64));
  std::vector<int32_t> tokens = {1, 400, 35, 120, 77, 300, 12};
  for (int32_t& t : tokens) t %= edge.hparams().n_vocab;
  std::vector<std::vector<float>> all;
  for (int step = 0; step < steps; ++step) {
    std::vector<float> logits(edge.hparams().n_vocab);
    RETURN_IF_ERROR(pipeline.Step(tokens, absl::MakeSpan(logits), pool));
    tokens = {
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin())};
    all.push_back(std::move(logits));
  }
  return all;
}

bool BitEqual(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0) {
      return false;
    }
  }
  return true;
}

TEST(SplitCommandTest, ShardsHoldTheirPartsAndTheSourceIdentity) {
  auto full = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(full.ok()) << full.status();
  auto shards = Split(TANDEM_TEST_MODEL, 2, "parts");
  ASSERT_TRUE(shards.ok()) << shards.status();
  EXPECT_THAT(shards->report, HasSubstr("edge shard"));
  EXPECT_THAT(shards->report, HasSubstr("MiB"));

  auto edge = LlamaModel::Load(shards->edge);  // defaults: whatever the file holds
  ASSERT_TRUE(edge.ok()) << edge.status();
  EXPECT_EQ((*edge)->layer_begin(), 0);
  EXPECT_EQ((*edge)->layer_end(), 2);
  EXPECT_TRUE((*edge)->has_embedding());
  EXPECT_FALSE((*edge)->has_head());
  EXPECT_EQ((*edge)->identity(), (*full)->identity());
  EXPECT_EQ((*edge)->hparams().n_layers, 5);
  EXPECT_EQ((*edge)->hparams().n_vocab, 512);
  EXPECT_TRUE((*edge)->gguf().GetArray("tokenizer.ggml.tokens").ok());
  EXPECT_EQ((*edge)->gguf().FindTensor("blk.2.attn_q.weight"), nullptr);
  EXPECT_EQ((*edge)->gguf().FindTensor("output.weight"), nullptr);

  auto cloud = LlamaModel::Load(shards->cloud);
  ASSERT_TRUE(cloud.ok()) << cloud.status();
  EXPECT_EQ((*cloud)->layer_begin(), 2);
  EXPECT_EQ((*cloud)->layer_end(), 5);
  EXPECT_FALSE((*cloud)->has_embedding());  // the head is not tied: no embedding needed
  EXPECT_TRUE((*cloud)->has_head());
  EXPECT_EQ((*cloud)->identity(), (*full)->identity());
  EXPECT_EQ((*cloud)->hparams().n_vocab, 512);
  EXPECT_EQ((*cloud)->gguf().FindTensor("blk.1.attn_q.weight"), nullptr);

  auto info = ReadShardInfo((*cloud)->gguf(), 5);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->Describe(), "cloud shard: layers [2, 5) of 5 + head");

  // Every tensor is in exactly one shard, byte for byte.
  size_t tensors = 0;
  for (const GgufTensorInfo& t : (*full)->gguf().tensors()) {
    const bool in_edge = (*edge)->gguf().FindTensor(t.name) != nullptr;
    const bool in_cloud = (*cloud)->gguf().FindTensor(t.name) != nullptr;
    EXPECT_NE(in_edge, in_cloud) << t.name;
    const GgufFile& holder = in_edge ? (*edge)->gguf() : (*cloud)->gguf();
    EXPECT_EQ(TensorBytes(holder, t.name), TensorBytes((*full)->gguf(), t.name)) << t.name;
    ++tensors;
  }
  EXPECT_EQ((*edge)->gguf().tensors().size() + (*cloud)->gguf().tensors().size(), tensors);
  EXPECT_LT(fs::file_size(shards->edge), fs::file_size(TANDEM_TEST_MODEL));
}

TEST(SplitCommandTest, SplitOutputOverShardsEqualsTheWholeFileAtEveryK) {
  auto full = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(full.ok()) << full.status();
  for (int32_t k = 1; k < 5; ++k) {
    auto shards = Split(TANDEM_TEST_MODEL, k, absl::StrCat("exact", k));
    ASSERT_TRUE(shards.ok()) << shards.status();
    auto edge = LlamaModel::Load(shards->edge);
    auto cloud = LlamaModel::Load(shards->cloud);
    ASSERT_TRUE(edge.ok() && cloud.ok());
    auto over_shards = SplitLogits(**edge, **cloud, k, 12);
    auto over_full = SplitLogits(**full, **full, k, 12);
    ASSERT_TRUE(over_shards.ok()) << over_shards.status();
    ASSERT_TRUE(over_full.ok()) << over_full.status();
    EXPECT_TRUE(BitEqual(*over_shards, *over_full)) << "K=" << k;
  }
}

// The same for each architecture (tiny synthetic models; all three have tied heads, so the
// cloud shard holds the embedding as its head; tiny-llama3 has rope_freqs.weight, which
// both shards need).
TEST(SplitCommandTest, ShardsOfEveryArchitectureEqualTheWholeFileAtEveryK) {
  for (const char* shape : {"tiny-llama3", "tiny-qwen2", "tiny-qwen3"}) {
    SynthConfig synth{.shape = shape, .type = "f32", .output_path = TempPath(shape).string()};
    std::ostringstream out, err;
    ASSERT_TRUE(RunSynth(synth, out, err).ok());
    auto full = LlamaModel::Load(synth.output_path);
    ASSERT_TRUE(full.ok()) << full.status();
    for (int32_t k = 1; k < (*full)->hparams().n_layers; ++k) {
      auto shards = Split(synth.output_path, k, absl::StrCat(shape, k));
      ASSERT_TRUE(shards.ok()) << shards.status();
      auto edge = LlamaModel::Load(shards->edge);
      auto cloud = LlamaModel::Load(shards->cloud);
      ASSERT_TRUE(edge.ok()) << edge.status();
      ASSERT_TRUE(cloud.ok()) << cloud.status();
      EXPECT_TRUE((*cloud)->tied_head());
      EXPECT_EQ((*edge)->identity(), (*full)->identity());
      EXPECT_EQ((*cloud)->identity(), (*full)->identity());
      auto over_shards = SplitLogits(**edge, **cloud, k, 6);
      auto over_full = SplitLogits(**full, **full, k, 6);
      ASSERT_TRUE(over_shards.ok()) << over_shards.status();
      ASSERT_TRUE(over_full.ok()) << over_full.status();
      EXPECT_TRUE(BitEqual(*over_shards, *over_full)) << shape << " K=" << k;
    }
  }
}

TEST(SplitCommandTest, LoaderRefusesWhatAShardDoesNotHold) {
  auto shards = Split(TANDEM_TEST_MODEL, 2, "refuse");
  ASSERT_TRUE(shards.ok()) << shards.status();
  // An edge at K = 3 needs layer 2, which went to the cloud shard.
  auto edge = LlamaModel::Load(shards->edge, {.layer_begin = 0, .layer_end = 3, .head = false});
  EXPECT_EQ(edge.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(edge.status().message(), HasSubstr("embedding + layers [0, 2) of 5"));
  EXPECT_THAT(edge.status().message(), HasSubstr("does not hold layers [0, 3)"));
  // A smaller K is fine: the edge shard holds [0, 1) too.
  EXPECT_TRUE(LlamaModel::Load(shards->edge, {.layer_begin = 0, .layer_end = 1}).ok());
  auto head = LlamaModel::Load(shards->edge, {.head = true});
  EXPECT_EQ(head.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(head.status().message(), HasSubstr("does not hold the output head"));

  auto cloud = LlamaModel::Load(shards->cloud, {.layer_begin = 1});
  EXPECT_EQ(cloud.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(cloud.status().message(), HasSubstr("layers [2, 5) of 5 + head"));
  auto embd = LlamaModel::Load(shards->cloud, {.embedding = true});
  EXPECT_EQ(embd.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(embd.status().message(), HasSubstr("does not hold the token embedding"));
  // A worker may serve a later K from the same shard.
  EXPECT_TRUE(LlamaModel::Load(shards->cloud, {.layer_begin = 3}).ok());
  // Outside the model at all is still InvalidArgument.
  EXPECT_EQ(LlamaModel::Load(shards->cloud, {.layer_end = 6}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Writes a copy of `src` with metadata edited by `edit` and tensors filtered by `keep`.
absl::Status Rewrite(const std::string& src, const std::string& dst,
                     std::function<void(GgufWriter&, const GgufFile&)> edit,
                     std::function<bool(const std::string&)> keep = nullptr) {
  ASSIGN_OR_RETURN(auto in, GgufFile::Open(src));
  GgufWriter w;
  edit(w, *in);
  for (const GgufTensorInfo& t : in->tensors()) {
    if (keep && !keep(t.name)) continue;
    w.AddTensor(t.name, t.shape, t.type, [&t](std::vector<uint8_t>& out) {
      std::copy(t.data.begin(), t.data.end(), out.begin());
      return absl::OkStatus();
    });
  }
  return w.Write(dst);
}

TEST(SplitCommandTest, TiedHeadGoesToTheCloudShardWithTheEmbedding) {
  // A tied variant of the real model: no output.weight, so the head reads token_embd.
  const std::string tied = TempPath("tied.gguf");
  ASSERT_TRUE(Rewrite(
                  TANDEM_TEST_MODEL, tied,
                  [](GgufWriter& w, const GgufFile& in) {
                    for (const auto& [key, value] : in.metadata()) w.SetValue(key, value);
                  },
                  [](const std::string& name) { return name != "output.weight"; })
                  .ok());
  auto full = LlamaModel::Load(tied);
  ASSERT_TRUE(full.ok()) << full.status();
  auto shards = Split(tied, 3, "tied");
  ASSERT_TRUE(shards.ok()) << shards.status();
  EXPECT_THAT(shards->report, HasSubstr("tied"));
  auto edge = LlamaModel::Load(shards->edge);
  auto cloud = LlamaModel::Load(shards->cloud);
  ASSERT_TRUE(edge.ok() && cloud.ok());
  EXPECT_TRUE((*cloud)->has_head());
  EXPECT_NE((*cloud)->gguf().FindTensor("token_embd.weight"), nullptr);
  EXPECT_EQ((*cloud)->identity(), (*full)->identity());
  auto over_shards = SplitLogits(**edge, **cloud, 3, 8);
  auto over_full = SplitLogits(**full, **full, 3, 8);
  ASSERT_TRUE(over_shards.ok() && over_full.ok());
  EXPECT_TRUE(BitEqual(*over_shards, *over_full));
}

TEST(SplitCommandTest, EdgeTypeRequantizesOnlyTheEdgeShard) {
  auto shards = Split(TANDEM_TEST_MODEL, 2, "q8", "q8_0");
  ASSERT_TRUE(shards.ok()) << shards.status();
  auto edge = LlamaModel::Load(shards->edge);
  auto cloud = LlamaModel::Load(shards->cloud);
  auto full = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(edge.ok() && cloud.ok() && full.ok());
  const GgufFile& e = (*edge)->gguf();
  EXPECT_EQ(e.FindTensor("blk.0.attn_q.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ(e.FindTensor("token_embd.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ(e.FindTensor("blk.0.attn_norm.weight")->type, GgmlType::kF32);
  // Rows of 172 values are not whole q8_0 blocks: they stay f32.
  EXPECT_EQ(e.FindTensor("blk.0.ffn_down.weight")->type, GgmlType::kF32);
  EXPECT_EQ(*e.GetUint("general.file_type"), 7u);
  EXPECT_EQ((*cloud)->gguf().FindTensor("blk.2.attn_q.weight")->type, GgmlType::kF32);
  // The identity does not depend on the storage type: edge and worker still match.
  EXPECT_EQ((*edge)->identity(), (*full)->identity());
  EXPECT_LT(fs::file_size(shards->edge), fs::file_size(Split(TANDEM_TEST_MODEL, 2, "f32")->edge));
  // And the re-quantized edge shard runs with the cloud shard.
  auto logits = SplitLogits(**edge, **cloud, 2, 4);
  ASSERT_TRUE(logits.ok()) << logits.status();
}

TEST(SplitCommandTest, BadRequestsAreRefused) {
  EXPECT_THAT(Split(TANDEM_TEST_MODEL, 0, "k0").status().message(),
              HasSubstr("K must be in [1, 4]"));
  EXPECT_EQ(Split(TANDEM_TEST_MODEL, 5, "k5").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Split(TANDEM_TEST_MODEL, 2, "t", "q2_k").status().message(),
              HasSubstr("unknown edge type"));
  auto shards = Split(TANDEM_TEST_MODEL, 2, "again");
  ASSERT_TRUE(shards.ok());
  auto again = Split(shards->edge, 1, "again2");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(again.status().message(), HasSubstr("already a shard"));
  SplitConfig same;
  same.input_path = TANDEM_TEST_MODEL;
  same.split = 2;
  same.edge_output_path = same.cloud_output_path = TempPath("same.gguf");
  std::ostringstream out, err;
  EXPECT_EQ(RunSplit(same, out, err).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SplitCommandTest, MalformedShardMetadataIsInvalid) {
  auto shards = Split(TANDEM_TEST_MODEL, 2, "meta");
  ASSERT_TRUE(shards.ok());
  // Without the source identity a shard would invent one from its partial tensor list.
  const std::string no_id = TempPath("no-id.gguf");
  ASSERT_TRUE(Rewrite(shards->edge, no_id, [](GgufWriter& w, const GgufFile& in) {
                for (const auto& [key, value] : in.metadata()) {
                  if (key != kIdentityKey) w.SetValue(key, value);
                }
              }).ok());
  auto model = LlamaModel::Load(no_id);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr(kIdentityKey));
  // A range that does not fit the model.
  const std::string bad_range = TempPath("bad-range.gguf");
  ASSERT_TRUE(Rewrite(shards->edge, bad_range, [](GgufWriter& w, const GgufFile& in) {
                for (const auto& [key, value] : in.metadata()) {
                  if (key != kShardLayerEndKey) w.SetValue(key, value);
                }
                w.SetUint32(kShardLayerEndKey, 9);
              }).ok());
  model = LlamaModel::Load(bad_range);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("inconsistent shard metadata"));
}

}  // namespace
}  // namespace tandem
