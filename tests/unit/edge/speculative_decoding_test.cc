// Speculative decoding end to end: the edge drafts with a small model, the in-process worker
// (a real cloud::Worker on the embedded model) verifies the drafts in one chunk. The tokens
// must be exactly those of plain split decoding — greedy at every K, and sampled, since the
// draft and the worker use the same position-keyed draw — while drafts are accepted, and
// when sampling some are rejected (the draft is the embedded model quantized to Q8_0: it
// agrees on the greedy tokens of this prompt, and disagrees now and then on sampled ones).
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/model/local_session.h"
#include "common/tool/commands.h"
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
using ::testing::HasSubstr;

constexpr char kPrompt[] = "Once upon a time, there was a little girl named Lily.";

struct Output {
  std::vector<int32_t> ids;
  std::vector<int32_t> positions;
  GenerationResult result;
};

class SpeculativeDecodingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    full_ = &::tandem::testing_util::EmbeddedModel();
    // One file per process: ctest runs this suite's tests in parallel processes.
    draft_path_ = new std::string((std::filesystem::path(::testing::TempDir()) /
                                   absl::StrCat("stories260K-q8_0-draft-", getpid(), ".gguf"))
                                      .string());
    std::ostringstream out, err;
    const absl::Status quantized = RunQuantize(
        {.input_path = TANDEM_TEST_MODEL, .output_path = *draft_path_, .type = "q8_0"}, out, err);
    ASSERT_TRUE(quantized.ok()) << quantized << err.str();
  }
  static void TearDownTestSuite() {
    std::filesystem::remove(*draft_path_);
    delete draft_path_;
  }

  static std::unique_ptr<EdgeModel> LoadEdge(int32_t k) {
    auto edge = EdgeModel::Load(TANDEM_TEST_MODEL, k);
    EXPECT_TRUE(edge.ok()) << edge.status();
    return std::move(*edge);
  }
  static std::unique_ptr<FallbackModel> LoadDraft(const EdgeModel& edge, const std::string& path) {
    auto draft = FallbackModel::Load(path, edge.tokenizer());
    EXPECT_TRUE(draft.ok()) << draft.status();
    return std::move(*draft);
  }

  // No fallback and no reconnect; `draft` null: plain split decoding.
  std::unique_ptr<ResilientGenerator> Make(const EdgeModel& edge, CloudLink& link,
                                           const FallbackModel* draft, int32_t max_drafts = 8) {
    ResilienceOptions r;
    r.reconnect.give_up_after = absl::ZeroDuration();
    r.warn = [](std::string_view) {};
    // A fixed draft length: in process, with no link to hide, the adaptive policy would
    // rightly turn drafting off.
    r.speculation = {.enabled = draft != nullptr,
                     .draft_model = draft,
                     .max_draft_tokens = max_drafts,
                     .adaptive = false};
    auto gen = ResilientGenerator::Create(edge, {{.name = "worker", .link = &link}},
                                          /*fallback=*/nullptr, pool_, clock_, metrics_,
                                          {.codec = CodecKind::kF32, .max_context = 256}, r);
    EXPECT_TRUE(gen.ok()) << gen.status();
    return std::move(*gen);
  }

  static Output Generate(ResilientGenerator& gen, int32_t n, const SamplingParams& sampling) {
    Output run;
    auto result = gen.Generate({.prompt = kPrompt, .max_tokens = n, .sampling = sampling},
                               [&](const GeneratedToken& t) {
                                 run.ids.push_back(t.id);
                                 run.positions.push_back(t.position);
                                 return true;
                               });
    EXPECT_TRUE(result.ok()) << result.status();
    if (result.ok()) run.result = *result;
    return run;
  }

  std::string Scrape() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

  static const LlamaModel* full_;
  static std::string* draft_path_;
  ThreadPool pool_{1};
  SystemClock clock_;
  prometheus::Registry registry_;
  EdgeMetrics metrics_{registry_, CodecKind::kF32};
};

const LlamaModel* SpeculativeDecodingTest::full_ = nullptr;
std::string* SpeculativeDecodingTest::draft_path_ = nullptr;

TEST_F(SpeculativeDecodingTest, GreedyTokensEqualTheUnsplitModelAtEveryK) {
  int64_t drafted = 0, accepted = 0;
  for (int32_t k = 1; k < full_->hparams().n_layers; ++k) {
    auto edge = LoadEdge(k);
    auto draft = LoadDraft(*edge, *draft_path_);
    InProcessCloudLink link;
    auto gen = Make(*edge, link, draft.get());
    const Output run = Generate(*gen, 64, {.temperature = 0});
    EXPECT_EQ(run.ids,
              ::tandem::testing_util::UnsplitTokens(*full_, edge->tokenizer(), kPrompt, 64, 256))
        << "K=" << k;
    const int32_t first = run.result.prompt_tokens;
    for (size_t i = 0; i < run.positions.size(); ++i) {
      ASSERT_EQ(run.positions[i], first + static_cast<int32_t>(i)) << "K=" << k;
    }
    EXPECT_EQ(run.result.drafted_tokens, gen->stats().drafted);
    EXPECT_EQ(run.result.accepted_drafts, gen->stats().accepted);
    // Fewer round trips than tokens: the drafts paid.
    EXPECT_LT(gen->stats().rounds, run.result.completion_tokens) << "K=" << k;
    drafted += gen->stats().drafted;
    accepted += gen->stats().accepted;
  }
  EXPECT_GT(accepted, 0);
}

TEST_F(SpeculativeDecodingTest, SampledTokensEqualPlainSplitDecodingForEverySeed) {
  auto edge = LoadEdge(2);
  auto draft = LoadDraft(*edge, *draft_path_);
  InProcessCloudLink link;
  auto plain = Make(*edge, link, nullptr);
  auto speculative = Make(*edge, link, draft.get());
  int64_t drafted = 0, accepted = 0;
  for (uint64_t seed = 1; seed <= 24; ++seed) {
    const SamplingParams sampling{.temperature = 1.0f, .top_p = 0.95f, .seed = seed};
    const Output expected = Generate(*plain, 40, sampling);
    const Output got = Generate(*speculative, 40, sampling);
    EXPECT_EQ(got.ids, expected.ids) << "seed " << seed;
    drafted += got.result.drafted_tokens;
    accepted += got.result.accepted_drafts;
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(drafted, accepted);
  EXPECT_EQ(plain->stats().drafted, 0);
}

// The statistical check: over many seeds, the token the worker answers at a drafted position
// (the draft accepted or not) is distributed as the worker's own softmax there. Runs whose
// first token is the most common one are pooled; their second tokens, each verified against a
// draft, are compared with p(. | prompt, first token) of the unsplit model by a chi-square
// test (categories expected >= 5 times, the rest pooled; significance 0.001).
TEST_F(SpeculativeDecodingTest, SampledTokensFollowTheWorkersDistribution) {
  auto edge = LoadEdge(2);
  auto draft = LoadDraft(*edge, *draft_path_);
  InProcessCloudLink link;
  auto gen = Make(*edge, link, draft.get());
  const SamplingParams base{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
  std::map<int32_t, std::map<int32_t, int>> second_by_first;
  for (uint64_t seed = 1; seed <= 1500; ++seed) {
    SamplingParams sampling = base;
    sampling.seed = seed;
    const Output run = Generate(*gen, 3, sampling);
    if (run.ids.size() >= 2) ++second_by_first[run.ids[0]][run.ids[1]];
  }
  // The second tokens were verified against drafts, some accepted and some rejected.
  EXPECT_GT(gen->stats().accepted, 100);
  EXPECT_GT(gen->stats().drafted - gen->stats().accepted, 10);

  int32_t first = -1;
  int total = 0;
  for (const auto& [id, seconds] : second_by_first) {
    int n = 0;
    for (const auto& [second, count] : seconds) n += count;
    if (n > total) std::tie(first, total) = std::pair(id, n);
  }
  ASSERT_GE(total, 300);

  // The worker's distribution after the prompt and `first`: the unsplit model's softmax.
  ThreadPool pool(1);
  auto session = LocalSession::Create(*full_, 256, pool);
  ASSERT_TRUE(session.ok()) << session.status();
  std::vector<int32_t> context = edge->tokenizer().Encode(kPrompt, edge->tokenizer().add_bos());
  context.push_back(first);
  auto logits = (*session)->Feed(context);
  ASSERT_TRUE(logits.ok()) << logits.status();
  double max_logit = -INFINITY, sum = 0;
  for (float l : *logits) max_logit = std::max(max_logit, static_cast<double>(l));
  std::vector<double> p(logits->size());
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp((*logits)[i] - max_logit);

  const std::map<int32_t, int>& observed = second_by_first[first];
  double chi2 = 0, pooled_expected = 0;
  int pooled_observed = 0, categories = 0;
  for (size_t id = 0; id < p.size(); ++id) {
    const double expected = total * p[id] / sum;
    const auto it = observed.find(static_cast<int32_t>(id));
    const int seen = it == observed.end() ? 0 : it->second;
    if (expected >= 5) {
      chi2 += (seen - expected) * (seen - expected) / expected;
      ++categories;
    } else {
      pooled_expected += expected;
      pooled_observed += seen;
    }
  }
  if (pooled_expected > 0) {
    chi2 +=
        (pooled_observed - pooled_expected) * (pooled_observed - pooled_expected) / pooled_expected;
    ++categories;
  }
  ASSERT_GE(categories, 3);
  // The chi-square quantile at 0.999 (Wilson-Hilferty: z = 3.09).
  const double df = categories - 1, a = 2.0 / (9.0 * df);
  const double critical = df * std::pow(1.0 - a + 3.09 * std::sqrt(a), 3);
  EXPECT_LT(chi2, critical) << "chi-square " << chi2 << ", df " << df << ", " << total
                            << " runs with first token " << first;
}

TEST_F(SpeculativeDecodingTest, TheSameModelAsDraftHasEveryDraftAccepted) {
  // The draft computes exactly what the worker computes (batch-invariant kernels, f32
  // codec, the same draw): a rejection would mean the verification is inexact.
  auto edge = LoadEdge(3);
  auto draft = LoadDraft(*edge, TANDEM_TEST_MODEL);
  InProcessCloudLink link;
  auto gen = Make(*edge, link, draft.get());
  for (float temperature : {0.0f, 0.9f}) {
    Generate(*gen, 48, {.temperature = temperature, .seed = 7});
  }
  EXPECT_GT(gen->stats().drafted, 20);
  EXPECT_EQ(gen->stats().accepted, gen->stats().drafted);
  const std::string text = Scrape();
  EXPECT_THAT(text,
              HasSubstr("tandem_edge_draft_tokens_total " + std::to_string(gen->stats().drafted)));
  EXPECT_THAT(text, HasSubstr("tandem_edge_draft_tokens_accepted_total " +
                              std::to_string(gen->stats().accepted)));
}

TEST_F(SpeculativeDecodingTest, AWorkerThatDoesNotVerifyGetsPlainSteps) {
  // An older worker (or one with verification off) says max_draft_tokens = 0.
  auto edge = LoadEdge(2);
  auto draft = LoadDraft(*edge, *draft_path_);
  cloud::WorkerLimits limits;
  limits.max_draft_tokens = 0;
  InProcessCloudLink link({.limits = limits});
  auto gen = Make(*edge, link, draft.get());
  const Output run = Generate(*gen, 32, {.temperature = 0});
  EXPECT_EQ(run.ids,
            ::tandem::testing_util::UnsplitTokens(*full_, edge->tokenizer(), kPrompt, 32, 256));
  EXPECT_EQ(gen->stats().drafted, 0);
  // One round trip per token after the prompt's.
  EXPECT_EQ(gen->stats().rounds, run.result.completion_tokens - 1);
}

TEST_F(SpeculativeDecodingTest, DraftsStopAtTheRequestsTokenLimit) {
  auto edge = LoadEdge(2);
  auto draft = LoadDraft(*edge, TANDEM_TEST_MODEL);
  InProcessCloudLink link;
  auto gen = Make(*edge, link, draft.get(), /*max_drafts=*/8);
  for (int32_t n : {1, 2, 3, 9, 10}) {
    const Output run = Generate(*gen, n, {.temperature = 0});
    EXPECT_EQ(run.result.completion_tokens, n);
    EXPECT_EQ(run.ids,
              ::tandem::testing_util::UnsplitTokens(*full_, edge->tokenizer(), kPrompt, n, 256));
    // Never a draft beyond the last token asked for.
    EXPECT_LE(run.result.drafted_tokens, n - 1) << n;
  }
}

}  // namespace
}  // namespace tandem::edge
