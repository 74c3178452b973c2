// The worker on a cloud shard (`tandem split`): split generation with the edge half on the
// edge shard equals the unsplit model; Hellos for a split point outside the shard and for
// another model's shards are refused.
#include <filesystem>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cloud/worker.h"
#include "common/gguf/gguf_writer.h"
#include "common/tool/commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/cloud/fake_clock.h"
#include "tests/unit/cloud/worker_test_util.h"

namespace tandem::cloud {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct ShardPaths {
  std::string edge, cloud;
};

ShardPaths SplitModel(const std::string& model, int32_t k, const std::string& tag) {
  SplitConfig config;
  config.input_path = model;
  config.split = k;
  config.edge_output_path = fs::path(testing::TempDir()) / absl::StrCat(tag, "-edge.gguf");
  config.cloud_output_path = fs::path(testing::TempDir()) / absl::StrCat(tag, "-cloud.gguf");
  std::ostringstream out, err;
  absl::Status st = RunSplit(config, out, err);
  EXPECT_TRUE(st.ok()) << st;
  return {config.edge_output_path, config.cloud_output_path};
}

// The real model with its head tied to the embedding: a different model (identity).
std::string TiedVariant() {
  const std::string path = fs::path(testing::TempDir()) / "tied-model.gguf";
  auto in = GgufFile::Open(TANDEM_TEST_MODEL);
  EXPECT_TRUE(in.ok());
  GgufWriter w;
  for (const auto& [key, value] : (*in)->metadata()) w.SetValue(key, value);
  for (const GgufTensorInfo& t : (*in)->tensors()) {
    if (t.name == "output.weight") continue;
    w.AddTensor(t.name, t.shape, t.type, [&t](std::vector<uint8_t>& out) {
      std::copy(t.data.begin(), t.data.end(), out.begin());
      return absl::OkStatus();
    });
  }
  EXPECT_TRUE(w.Write(path).ok());
  return path;
}

class ShardWorkerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Worker> MakeWorker(const std::string& path) {
    auto worker = Worker::Create({.model_path = path, .threads = 2}, clock_);
    EXPECT_TRUE(worker.ok()) << worker.status();
    return worker.ok() ? *std::move(worker) : nullptr;
  }
  FakeClock clock_;
};

TEST_F(ShardWorkerTest, EdgeShardWithCloudShardGeneratesAsTheWholeModel) {
  auto full = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(full.ok());
  auto reference = ReferenceGreedy(**full, TestPrompt(), 12);
  ASSERT_TRUE(reference.ok()) << reference.status();
  for (int32_t k = 1; k < 5; ++k) {
    const ShardPaths shards = SplitModel(TANDEM_TEST_MODEL, k, absl::StrCat("gen", k));
    auto worker = MakeWorker(shards.cloud);
    ASSERT_NE(worker, nullptr);
    EXPECT_EQ(worker->Status().first_layer, k);
    EXPECT_EQ(worker->Status().model_id, (*full)->identity());
    // The device holds the edge shard only: embedding + layers [0, K).
    auto edge = LlamaModel::Load(shards.edge);
    ASSERT_TRUE(edge.ok()) << edge.status();
    auto split = SplitGreedy(*worker, **edge, k, absl::StrCat("s", k), TestPrompt(), 12);
    ASSERT_TRUE(split.ok()) << "K=" << k << ": " << split.status();
    EXPECT_EQ(*split, *reference) << "K=" << k;
  }
}

TEST_F(ShardWorkerTest, SplitPointBeforeTheShardIsRefused) {
  const ShardPaths shards = SplitModel(TANDEM_TEST_MODEL, 3, "wrongk");
  auto worker = MakeWorker(shards.cloud);
  ASSERT_NE(worker, nullptr);
  auto full = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(full.ok());
  auto opened = worker->Open(GreedyHello(**full, 2, "k2"));
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(opened.status().message(), HasSubstr("K in [3, 4]"));
  // A later split point only needs layers the shard has.
  auto later = SplitGreedy(*worker, **full, 4, "k4", TestPrompt(), 4);
  EXPECT_TRUE(later.ok()) << later.status();
}

TEST_F(ShardWorkerTest, ShardsOfDifferentModelsAreRefused) {
  const ShardPaths ours = SplitModel(TANDEM_TEST_MODEL, 2, "ours");
  const ShardPaths theirs = SplitModel(TiedVariant(), 2, "theirs");
  auto worker = MakeWorker(ours.cloud);
  ASSERT_NE(worker, nullptr);
  auto other_edge = LlamaModel::Load(theirs.edge);
  ASSERT_TRUE(other_edge.ok());
  auto opened = worker->Open(GreedyHello(**other_edge, 2, "mismatch"));
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(opened.status().message(), HasSubstr("model mismatch"));
}

TEST_F(ShardWorkerTest, EdgeShardIsNotAWorkerModel) {
  const ShardPaths shards = SplitModel(TANDEM_TEST_MODEL, 2, "edgeonly");
  auto worker = Worker::Create({.model_path = shards.edge, .threads = 1}, clock_);
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tandem::cloud
