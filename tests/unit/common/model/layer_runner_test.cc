// The master test of the layer-range engine: running layers [0, K) then [K, N) must give
// logits bit-identical to running [0, N), for every K, for prompt and decode steps.
#include "common/model/layer_runner.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "common/model/local_session.h"
#include "common/tool/commands.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

struct Step {
  std::vector<int32_t> tokens;
};

// Logits after each step of `steps`, computed with the layers cut at `split` (0: uncut).
std::vector<std::vector<float>> RunSteps(const LlamaModel& model, int32_t split,
                                         const std::vector<Step>& steps, ThreadPool& pool) {
  const LlamaHparams& hp = model.hparams();
  std::vector<std::unique_ptr<LayerRunner>> parts;
  std::vector<std::pair<int32_t, int32_t>> ranges =
      split == 0 ? std::vector<std::pair<int32_t, int32_t>>{{0, hp.n_layers}}
                 : std::vector<std::pair<int32_t, int32_t>>{{0, split}, {split, hp.n_layers}};
  for (auto [b, e] : ranges) parts.push_back(*LayerRunner::Create(model, b, e, 64));
  std::vector<std::vector<float>> out;
  int32_t pos = 0;
  for (const Step& s : steps) {
    const int32_t n = static_cast<int32_t>(s.tokens.size());
    std::vector<float> hidden(static_cast<size_t>(n) * hp.dim);
    EXPECT_TRUE(Embed(model, s.tokens, absl::MakeSpan(hidden)).ok());
    for (auto& part : parts) {
      absl::Status st = part->Forward(absl::MakeSpan(hidden), n, pos, pool);
      EXPECT_TRUE(st.ok()) << st;
    }
    std::vector<float> logits(static_cast<size_t>(n) * hp.n_vocab);
    EXPECT_TRUE(Head(model, hidden, absl::MakeSpan(logits), pool).ok());
    out.push_back(std::move(logits));
    pos += n;
  }
  return out;
}

void ExpectSplitExact(const std::string& path, int threads) {
  auto model = LlamaModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  ThreadPool pool(threads);
  // A 7-token prompt, then three single-token decode steps, then a 2-token chunk.
  // Ids stay below 259, the byte vocabulary of the synthetic models.
  std::vector<Step> steps = {{{1, 200, 30, 77, 160, 5, 99}}, {{42}}, {{7}}, {{250}}, {{11, 12}}};
  auto reference = RunSteps(**model, 0, steps, pool);
  for (int32_t k = 1; k < (*model)->hparams().n_layers; ++k) {
    auto split = RunSteps(**model, k, steps, pool);
    ASSERT_EQ(split.size(), reference.size());
    for (size_t s = 0; s < steps.size(); ++s) {
      ASSERT_EQ(split[s].size(), reference[s].size());
      EXPECT_EQ(0,
                std::memcmp(split[s].data(), reference[s].data(), split[s].size() * sizeof(float)))
          << "split at K=" << k << " differs at step " << s;
    }
  }
}

TEST(LayerRunnerTest, SplitIsBitIdenticalOnRealModel) { ExpectSplitExact(TANDEM_TEST_MODEL, 2); }

// A tiny synthetic shape with `type` weights (its path).
std::string TinyModel(const std::string& type, const std::string& shape = "tiny") {
  SynthConfig synth{
      .shape = shape,
      .type = type,
      .output_path =
          (std::filesystem::path(testing::TempDir()) / (shape + "-" + type + ".gguf")).string()};
  std::ostringstream out, err;
  EXPECT_TRUE(RunSynth(synth, out, err).ok()) << err.str();
  return synth.output_path;
}

TEST(LayerRunnerTest, SplitIsBitIdenticalOnQuantizedModels) {
  for (const char* type : {"q4_0", "q8_0", "f16"}) ExpectSplitExact(TinyModel(type), 2);
}

// Every architecture: Llama 3 rope scaling and a tied head, qwen2 biases and NEOX rope,
// qwen3 per-head norms with head_dim * heads != dim.
TEST(LayerRunnerTest, SplitIsBitIdenticalForEveryArchitecture) {
  const auto dir = std::filesystem::path(testing::TempDir());
  for (const char* shape : {"tiny-llama3", "tiny-qwen2", "tiny-qwen3"}) {
    for (const char* type : {"f32", "q8_0"}) {
      SynthConfig synth{.shape = shape,
                        .type = type,
                        .output_path = (dir / (std::string(shape) + type + ".gguf")).string()};
      std::ostringstream out, err;
      ASSERT_TRUE(RunSynth(synth, out, err).ok());
      SCOPED_TRACE(synth.output_path);
      ExpectSplitExact(synth.output_path, 2);
    }
  }
}

TEST(LayerRunnerTest, ThreadCountDoesNotChangeResults) {
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok());
  std::vector<Step> steps = {{{1, 400, 30, 77}}, {{42}}};
  ThreadPool one(1), three(3);
  auto a = RunSteps(**model, 0, steps, one);
  auto b = RunSteps(**model, 0, steps, three);
  for (size_t s = 0; s < steps.size(); ++s) {
    EXPECT_EQ(0, std::memcmp(a[s].data(), b[s].data(), a[s].size() * sizeof(float)));
  }
}

// Batch invariance at the model level: a position's logits are bit-identical whether it
// is decoded alone or computed in a prompt chunk of any size at any offset (kernels and
// attention follow one reduction order per output). This is what makes the edge's
// fallback continue exactly as the worker would, and replay on another worker exact.
void ExpectChunkingInvariant(const std::string& path) {
  auto model = LlamaModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  ThreadPool pool(2);
  const std::vector<int32_t> tokens = {1, 200, 30, 77, 160, 5, 99, 42, 7, 250, 11, 12, 13};
  std::vector<Step> singles;
  for (int32_t t : tokens) singles.push_back({{t}});
  const int32_t vocab = (*model)->hparams().n_vocab;
  for (int32_t split : {0, 2}) {
    const auto stepped = RunSteps(**model, split, singles, pool);
    for (const std::vector<int>& sizes : std::vector<std::vector<int>>{
             {13}, {5, 8}, {1, 3, 9}, {2, 2, 2, 2, 2, 3}, {7, 1, 5}, {4, 4, 4, 1}}) {
      std::vector<Step> chunks;
      size_t at = 0;
      for (int size : sizes) {
        chunks.push_back({{tokens.begin() + at, tokens.begin() + at + size}});
        at += size;
      }
      const auto chunked = RunSteps(**model, split, chunks, pool);
      size_t position = 0;
      for (size_t c = 0; c < chunks.size(); ++c) {
        for (size_t i = 0; i < chunks[c].tokens.size(); ++i, ++position) {
          ASSERT_EQ(0, std::memcmp(chunked[c].data() + i * vocab, stepped[position].data(),
                                   vocab * sizeof(float)))
              << path << " split=" << split << " chunk " << c << " position " << position;
        }
      }
    }
  }
}

TEST(LayerRunnerTest, PositionsDoNotDependOnChunkingRealModel) {
  ExpectChunkingInvariant(TANDEM_TEST_MODEL);
}

TEST(LayerRunnerTest, PositionsDoNotDependOnChunkingQuantizedModels) {
  for (const char* type : {"q4_0", "q8_0", "f16"}) ExpectChunkingInvariant(TinyModel(type));
}

// The K-quants: chunks of 1 or 2 tokens run their decode kernel, longer ones the GEMM.
TEST(LayerRunnerTest, PositionsDoNotDependOnChunkingKQuantModels) {
  for (const char* type : {"q4_k", "q5_k", "q6_k"}) {
    ExpectChunkingInvariant(TinyModel(type, "tiny-k"));
  }
}

// The fallback hand-over: the worker (layers split at K, the prompt sent in chunks,
// then one decode step per token) generates greedily; at every hand-over point the
// edge's fallback (a LocalSession of the same model that prefills the whole context in
// one pass) must produce bit-identical logits there and at every later position.
void ExpectFallbackHandOverExact(const std::string& path) {
  auto loaded = LlamaModel::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const LlamaModel& model = **loaded;
  const int32_t vocab = model.hparams().n_vocab;
  ThreadPool pool(2);
  auto argmax = [&](const float* l) {
    return static_cast<int32_t>(std::max_element(l, l + vocab) - l);
  };
  const std::vector<int32_t> prompt = {1, 200, 30, 77, 160, 5, 99, 42};
  const int32_t gen = 12;
  // The worker: chunks of 3 prompt positions, then decode steps.
  std::vector<Step> steps;
  for (size_t at = 0; at < prompt.size(); at += 3) {
    steps.push_back({{prompt.begin() + at, prompt.begin() + std::min(at + 3, prompt.size())}});
  }
  std::vector<int32_t> context = prompt;
  std::vector<std::vector<float>> worker_logits;  // logits after position P - 1 + i
  {
    const int32_t k = 2;
    std::vector<std::unique_ptr<LayerRunner>> parts;
    parts.push_back(*LayerRunner::Create(model, 0, k, 64));
    parts.push_back(*LayerRunner::Create(model, k, model.hparams().n_layers, 64));
    int32_t pos = 0;
    std::vector<float> last;
    auto run = [&](const std::vector<int32_t>& tokens) {
      const int32_t n = static_cast<int32_t>(tokens.size());
      std::vector<float> hidden(static_cast<size_t>(n) * model.hparams().dim);
      ASSERT_TRUE(Embed(model, tokens, absl::MakeSpan(hidden)).ok());
      for (auto& part : parts)
        ASSERT_TRUE(part->Forward(absl::MakeSpan(hidden), n, pos, pool).ok());
      std::vector<float> logits(vocab);
      absl::Span<const float> tail(hidden.data() + (n - 1) * model.hparams().dim,
                                   model.hparams().dim);
      ASSERT_TRUE(Head(model, tail, absl::MakeSpan(logits), pool).ok());
      last = std::move(logits);
      pos += n;
    };
    for (const Step& s : steps) run(s.tokens);
    for (int32_t i = 0; i < gen; ++i) {
      worker_logits.push_back(last);
      context.push_back(argmax(last.data()));
      run({context.back()});
    }
  }
  for (int32_t handover = 0; handover < gen; handover += 3) {
    auto fallback = LocalSession::Create(model, 64, pool);
    ASSERT_TRUE(fallback.ok());
    const size_t known = prompt.size() + handover;  // positions the edge already has
    auto logits = (*fallback)->Feed({context.data(), known});
    for (int32_t i = handover; i < gen; ++i) {
      ASSERT_TRUE(logits.ok()) << logits.status();
      ASSERT_EQ(0, std::memcmp(logits->data(), worker_logits[i].data(), vocab * sizeof(float)))
          << path << ": hand-over after " << handover << " tokens, token " << i;
      logits = (*fallback)->Feed({&context[prompt.size() + i], 1});
    }
  }
}

TEST(LayerRunnerTest, FallbackHandOverIsExactRealModel) {
  ExpectFallbackHandOverExact(TANDEM_TEST_MODEL);
}

TEST(LayerRunnerTest, FallbackHandOverIsExactQuantizedModels) {
  const auto dir = std::filesystem::path(testing::TempDir());
  for (const char* type : {"q4_0", "q8_0", "f16", "f32"}) {
    SynthConfig synth{.shape = "tiny",
                      .type = type,
                      .output_path = (dir / (std::string("handover-") + type + ".gguf")).string()};
    std::ostringstream out, err;
    ASSERT_TRUE(RunSynth(synth, out, err).ok());
    ExpectFallbackHandOverExact(synth.output_path);
  }
}

TEST(LayerRunnerTest, RejectsBadRangesAndPositions) {
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok());
  const LlamaModel& m = **model;
  EXPECT_EQ(LayerRunner::Create(m, 0, 6, 16).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LayerRunner::Create(m, 0, 5, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LayerRunner::Create(m, 0, 5, 4096).status().code(), absl::StatusCode::kInvalidArgument);
  auto runner = LayerRunner::Create(m, 0, 5, 4);
  ASSERT_TRUE(runner.ok());
  ThreadPool pool(1);
  std::vector<float> hidden(3 * 64);
  EXPECT_EQ((*runner)->Forward(absl::MakeSpan(hidden), 3, 1, pool).code(),
            absl::StatusCode::kInvalidArgument);  // position 1 skips position 0
  EXPECT_TRUE((*runner)->Forward(absl::MakeSpan(hidden), 3, 0, pool).ok());
  EXPECT_EQ((*runner)->Forward(absl::MakeSpan(hidden), 3, 3, pool).code(),
            absl::StatusCode::kOutOfRange);  // 6 positions do not fit a context of 4
  std::vector<int32_t> bad = {512};
  std::vector<float> one(64);
  EXPECT_EQ(Embed(m, bad, absl::MakeSpan(one)).code(), absl::StatusCode::kInvalidArgument);
}

TEST(LlamaModelTest, PartialLoadHasOnlyWhatWasAsked) {
  LoadOptions edge{.layer_begin = 0, .layer_end = 2, .embedding = true, .head = false};
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL, edge);
  ASSERT_TRUE(model.ok());
  EXPECT_TRUE((*model)->has_embedding());
  EXPECT_FALSE((*model)->has_head());
  EXPECT_EQ(LayerRunner::Create(**model, 0, 3, 8).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ThreadPool pool(1);
  std::vector<float> hidden(64), logits(512);
  EXPECT_EQ(Head(**model, hidden, absl::MakeSpan(logits), pool).code(),
            absl::StatusCode::kFailedPrecondition);
  auto full = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ((*model)->identity(), (*full)->identity());
}

TEST(LlamaModelTest, HyperparametersOfRealModel) {
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok());
  const LlamaHparams& hp = (*model)->hparams();
  // Values from the model's README (llama2.c stories260K).
  EXPECT_EQ(hp.n_vocab, 512);
  EXPECT_EQ(hp.dim, 64);
  EXPECT_EQ(hp.ffn_dim, 172);
  EXPECT_EQ(hp.n_layers, 5);
  EXPECT_EQ(hp.n_heads, 8);
  EXPECT_EQ(hp.n_kv_heads, 4);
  EXPECT_EQ(hp.head_dim, 8);
  EXPECT_FLOAT_EQ(hp.rms_eps, 1e-5f);
  EXPECT_FLOAT_EQ(hp.rope_freq_base, 10000.0f);
}

}  // namespace
}  // namespace tandem
