// The generator in cloud mode (no fallback model, no reconnect) against an in-process
// worker that runs the real layers [K, N): with the lossless f32 codec its greedy output
// must equal the unsplit model's, at every K. Failover is in resilient_generator_test.
#include <string>
#include <vector>

#include "common/model/local_session.h"
#include "common/sampler/sampler.h"
#include "edge/resilient_generator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/util/embedded_model.h"
#include "tests/util/in_process_cloud_link.h"
#include "tests/util/unsplit_reference.h"

namespace tandem::edge {
namespace {

using ::tandem::testing_util::InProcessCloudLink;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr char kPrompt[] = "Once upon a time, there was a little girl named Lily.";

class SplitGenerationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { full_ = &::tandem::testing_util::EmbeddedModel(); }

  // Greedy tokens of the unsplit model (what `tandem generate --temp 0` produces).
  static std::vector<int32_t> Reference(const EdgeModel& edge, const std::string& prompt, int32_t n,
                                        int32_t context) {
    return ::tandem::testing_util::UnsplitTokens(*full_, edge.tokenizer(), prompt, n, context);
  }

  std::unique_ptr<EdgeModel> LoadEdge(int32_t k) {
    auto edge = EdgeModel::Load(TANDEM_TEST_MODEL, k);
    EXPECT_TRUE(edge.ok()) << edge.status();
    return std::move(*edge);
  }

  // One worker, no fallback model, no reconnect: a link error ends the generation.
  std::unique_ptr<ResilientGenerator> MakeGenerator(const EdgeModel& edge, CloudLink& link,
                                                    SplitOptions options = {
                                                        .codec = CodecKind::kF32,
                                                        .max_context = 128}) {
    ResilienceOptions no_reconnect;
    no_reconnect.reconnect.give_up_after = absl::ZeroDuration();
    no_reconnect.warn = [](std::string_view) {};
    auto gen = ResilientGenerator::Create(edge, {{.name = "worker", .link = &link}},
                                          /*fallback=*/nullptr, pool_, clock_, metrics_, options,
                                          no_reconnect);
    EXPECT_TRUE(gen.ok()) << gen.status();
    return std::move(*gen);
  }

  static const LlamaModel* full_;
  ThreadPool pool_{1};
  SystemClock clock_;
  prometheus::Registry registry_;
  EdgeMetrics metrics_{registry_, CodecKind::kF32};
};

const LlamaModel* SplitGenerationTest::full_ = nullptr;

struct Collected {
  std::vector<int32_t> ids;
  std::vector<int32_t> positions;
  std::string bytes;
};

TEST_F(SplitGenerationTest, GreedyF32EqualsUnsplitModelAtEveryK) {
  const int32_t n_layers = full_->hparams().n_layers;
  ASSERT_GE(n_layers, 2);
  for (int32_t k = 1; k < n_layers; ++k) {
    auto edge = LoadEdge(k);
    InProcessCloudLink link;
    // Small prompt chunks so that the prompt goes out in several of them.
    auto gen = MakeGenerator(
        *edge, link, {.codec = CodecKind::kF32, .max_context = 256, .prompt_chunk_positions = 5});
    const std::vector<int32_t> expected = Reference(*edge, kPrompt, 48, 256);
    ASSERT_FALSE(expected.empty());
    Collected got;
    auto result =
        gen->Generate({.prompt = kPrompt, .max_tokens = 48, .sampling = {.temperature = 0}},
                      [&](const GeneratedToken& t) {
                        got.ids.push_back(t.id);
                        got.positions.push_back(t.position);
                        got.bytes.append(t.piece);
                        return true;
                      });
    ASSERT_TRUE(result.ok()) << "K=" << k << ": " << result.status();
    EXPECT_THAT(got.ids, ElementsAreArray(expected)) << "K=" << k;
    EXPECT_EQ(result->completion_tokens, static_cast<int32_t>(got.ids.size()));
    EXPECT_EQ(result->finish_reason,
              got.ids.size() == 48 ? FinishReason::kLength : FinishReason::kStop);
    // Positions are contiguous after the prompt; the context holds prompt + output.
    const auto prompt = edge->tokenizer().Encode(kPrompt, true);
    EXPECT_EQ(result->prompt_tokens, static_cast<int32_t>(prompt.size()));
    for (size_t i = 0; i < got.positions.size(); ++i) {
      EXPECT_EQ(got.positions[i], static_cast<int32_t>(prompt.size() + i));
    }
    std::vector<int32_t> context = prompt;
    context.insert(context.end(), got.ids.begin(), got.ids.end());
    EXPECT_THAT(gen->context(), ElementsAreArray(context));
    EXPECT_EQ(got.bytes, edge->tokenizer().Decode(got.ids));
    EXPECT_EQ(link.closes(), 1);
  }
}

TEST_F(SplitGenerationTest, HelloDescribesTheSession) {
  auto edge = LoadEdge(2);
  InProcessCloudLink link;
  auto gen = MakeGenerator(*edge, link, {.codec = CodecKind::kQ8, .max_context = 128});
  auto result = gen->Generate(
      {.prompt = "Hi", .max_tokens = 2, .sampling = {.temperature = 0.5f, .top_k = 7, .seed = 42}},
      [](const GeneratedToken&) { return true; });
  ASSERT_TRUE(result.ok()) << result.status();
  auto hello = link.last_hello();
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->model_id, full_->identity());
  EXPECT_EQ(hello->n_layers, full_->hparams().n_layers);
  EXPECT_EQ(hello->split_layer, 2);
  EXPECT_EQ(hello->hidden_dim, full_->hparams().dim);
  EXPECT_EQ(hello->codec, CodecKind::kQ8);
  EXPECT_EQ(hello->max_context, 128);
  EXPECT_EQ(hello->resume_position, 0);
  EXPECT_EQ(hello->sampling.top_k, 7);
  EXPECT_EQ(hello->sampling.seed, 42u);
  EXPECT_EQ(hello->session_id.size(), 32u);
}

TEST_F(SplitGenerationTest, PromptChunksRespectTheWorkersLimits) {
  auto edge = LoadEdge(1);
  InProcessCloudLink link({.limits = {.max_chunk_positions = 4}});
  auto gen = MakeGenerator(*edge, link, {.codec = CodecKind::kQ8, .max_context = 128});
  auto result = gen->Generate({.prompt = kPrompt, .max_tokens = 3, .sampling = {.temperature = 0}},
                              [](const GeneratedToken&) { return true; });
  ASSERT_TRUE(result.ok()) << result.status();
  const std::vector<HiddenChunk> chunks = link.chunks();
  int32_t next = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LE(chunks[i].num_positions, 4);
    EXPECT_EQ(chunks[i].start_position, next);
    EXPECT_EQ(chunks[i].codec, CodecKind::kQ8);
    next += chunks[i].num_positions;
  }
  // Only the last prompt chunk and the decode steps ask for a token.
  const int32_t prompt_chunks = (result->prompt_tokens + 3) / 4;
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].sample, static_cast<int32_t>(i) >= prompt_chunks - 1) << i;
  }
}

TEST_F(SplitGenerationTest, QuantizedCodecsGenerateText) {
  for (CodecKind codec : {CodecKind::kF16, CodecKind::kQ8, CodecKind::kQ4}) {
    auto edge = LoadEdge(2);
    InProcessCloudLink link;
    auto gen = MakeGenerator(*edge, link, {.codec = codec, .max_context = 128});
    std::string text;
    auto result =
        gen->Generate({.prompt = kPrompt, .max_tokens = 16, .sampling = {.temperature = 0}},
                      [&](const GeneratedToken& t) {
                        text.append(t.piece);
                        return true;
                      });
    ASSERT_TRUE(result.ok()) << CodecKindName(codec) << ": " << result.status();
    EXPECT_GT(result->completion_tokens, 0);
    EXPECT_FALSE(text.empty());
  }
}

TEST_F(SplitGenerationTest, StopsAtTheContextEndLikeTandemGenerate) {
  auto edge = LoadEdge(3);
  const int32_t prompt = static_cast<int32_t>(edge->tokenizer().Encode(kPrompt, true).size());
  const int32_t context = prompt + 5;
  const std::vector<int32_t> expected = Reference(*edge, kPrompt, 1000, context);
  InProcessCloudLink link;
  auto gen = MakeGenerator(*edge, link, {.codec = CodecKind::kF32, .max_context = context});
  std::vector<int32_t> ids;
  auto result = gen->Generate({.prompt = kPrompt, .max_tokens = -1, .sampling = {.temperature = 0}},
                              [&](const GeneratedToken& t) {
                                ids.push_back(t.id);
                                return true;
                              });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(ids, ElementsAreArray(expected));
  ASSERT_EQ(ids.size(), 6u) << "the model ended early; pick another prompt";
  EXPECT_EQ(result->finish_reason, FinishReason::kLength);
}

TEST_F(SplitGenerationTest, PromptLongerThanTheContextIsOutOfRange) {
  auto edge = LoadEdge(1);
  InProcessCloudLink link;
  auto gen = MakeGenerator(*edge, link, {.codec = CodecKind::kF32, .max_context = 4});
  auto result = gen->Generate({.prompt = kPrompt}, [](const GeneratedToken&) { return true; });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(link.opens(), 0);
}

TEST_F(SplitGenerationTest, BadSamplingIsInvalidArgument) {
  auto edge = LoadEdge(1);
  InProcessCloudLink link;
  auto gen = MakeGenerator(*edge, link, {.codec = CodecKind::kF32, .max_context = 64});
  auto result = gen->Generate({.prompt = "Hi", .sampling = {.temperature = -1}},
                              [](const GeneratedToken&) { return true; });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SplitGenerationTest, ZeroMaxTokensNeedsNoWorker) {
  auto edge = LoadEdge(1);
  InProcessCloudLink link;
  link.SetOpenStatus(absl::UnavailableError("down"));
  auto gen = MakeGenerator(*edge, link, {.codec = CodecKind::kF32, .max_context = 64});
  auto result =
      gen->Generate({.prompt = "Hi", .max_tokens = 0}, [](const GeneratedToken&) { return true; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->completion_tokens, 0);
  EXPECT_EQ(result->finish_reason, FinishReason::kLength);
  EXPECT_EQ(link.opens(), 0);
}

TEST_F(SplitGenerationTest, SinkCanStopTheGeneration) {
  auto edge = LoadEdge(2);
  InProcessCloudLink link;
  auto gen = MakeGenerator(*edge, link);
  int calls = 0;
  auto result = gen->Generate({.prompt = kPrompt, .max_tokens = 30, .sampling = {.temperature = 0}},
                              [&](const GeneratedToken&) { return ++calls < 3; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(link.closes(), 1);  // the session is closed, not left to time out
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(result->completion_tokens, 3);
  EXPECT_EQ(result->finish_reason, FinishReason::kCancelled);
}

TEST_F(SplitGenerationTest, RefusedOpenIsReturned) {
  auto edge = LoadEdge(2);
  InProcessCloudLink link;
  link.SetOpenStatus(absl::UnavailableError("no route"));
  auto gen = MakeGenerator(*edge, link);
  auto result = gen->Generate({.prompt = kPrompt}, [](const GeneratedToken&) { return true; });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(SplitGenerationTest, HungWorkerEndsWithDeadlineExceededAfterTheTokensSoFar) {
  auto edge = LoadEdge(2);
  InProcessCloudLink link;
  link.FailAfterTokens(3);
  auto gen = MakeGenerator(*edge, link);
  int tokens = 0;
  auto result = gen->Generate({.prompt = kPrompt, .max_tokens = 30, .sampling = {.temperature = 0}},
                              [&](const GeneratedToken&) { return ++tokens > 0; });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(tokens, 3);
  EXPECT_EQ(link.closes(), 0);  // a broken session is dropped, not closed
  // The context still holds everything streamed, for a replay.
  const auto prompt = edge->tokenizer().Encode(kPrompt, true);
  EXPECT_EQ(gen->context().size(), prompt.size() + 3);
}

TEST_F(SplitGenerationTest, TypedControlTokenTextStaysText) {
  auto edge = LoadEdge(1);
  InProcessCloudLink link;
  auto gen = MakeGenerator(*edge, link);
  auto result = gen->Generate({.prompt = "</s><s> story", .max_tokens = 1},
                              [](const GeneratedToken&) { return true; });
  ASSERT_TRUE(result.ok()) << result.status();
  const auto context = gen->context();
  ASSERT_FALSE(context.empty());
  EXPECT_EQ(context[0], edge->tokenizer().bos_id());
  for (size_t i = 1; i < context.size() - 1; ++i) {
    EXPECT_FALSE(edge->tokenizer().IsControl(context[i])) << "position " << i;
  }
}

TEST_F(SplitGenerationTest, MetricsCountTokensBytesAndErrors) {
  auto edge = LoadEdge(2);
  InProcessCloudLink link;
  auto gen = MakeGenerator(*edge, link);
  auto ok = gen->Generate({.prompt = kPrompt, .max_tokens = 5, .sampling = {.temperature = 0}},
                          [](const GeneratedToken&) { return true; });
  ASSERT_TRUE(ok.ok()) << ok.status();
  link.FailAfterTokens(0, absl::UnavailableError("cut"));
  auto failed = gen->Generate({.prompt = kPrompt, .max_tokens = 5},
                              [](const GeneratedToken&) { return true; });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  const std::string text = prometheus::TextSerializer().Serialize(registry_.Collect());
  EXPECT_THAT(text, HasSubstr("tandem_edge_tokens_generated_total " +
                              std::to_string(ok->completion_tokens)));
  EXPECT_THAT(text, HasSubstr("tandem_edge_errors_total{code=\"UNAVAILABLE\"} 1"));
  EXPECT_THAT(text, HasSubstr("tandem_edge_codec_info{codec=\"f32\"} 1"));
  EXPECT_THAT(text, HasSubstr("tandem_edge_active_sessions 0"));
  EXPECT_THAT(text, HasSubstr("tandem_edge_step_seconds_count " +
                              std::to_string(ok->completion_tokens - 1)));
  EXPECT_THAT(text, HasSubstr("tandem_edge_bytes_per_token_count"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("tandem_edge_sent_bytes_total 0\n")));
}

}  // namespace
}  // namespace tandem::edge
