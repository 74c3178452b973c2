// The resilient generator against an in-process worker (InProcessCloudLink: a real
// cloud::Worker on the embedded model, sessions kept across streams) with injected faults, and the
// same model as the fallback. With the lossless f32 codec the split model, the fallback and
// the unsplit model compute the same logits, and all sample by position, so a faulted
// stream must equal the unfaulted one token for token, whoever produced each token.
#include "edge/resilient_generator.h"

#include <string>
#include <vector>

#include "common/model/local_session.h"
#include "common/sampler/sampler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/unit/cloud/fake_clock.h"
#include "tests/util/embedded_model.h"
#include "tests/util/in_process_cloud_link.h"
#include "tests/util/unsplit_reference.h"

namespace tandem::edge {
namespace {

using ::tandem::testing_util::InProcessCloudLink;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kPrompt[] = "Once upon a time, there was a little girl named Lily.";
constexpr int32_t kSplit = 2;

struct Collected {
  std::vector<int32_t> ids;
  std::vector<int32_t> positions;
  std::vector<GenerationMode> modes;
};

class ResilientGeneratorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    full_ = &::tandem::testing_util::EmbeddedModel();
    auto edge = EdgeModel::Load(TANDEM_TEST_MODEL, kSplit);
    ASSERT_TRUE(edge.ok()) << edge.status();
    edge_ = edge->release();
    auto fallback = FallbackModel::Load(TANDEM_TEST_MODEL, edge_->tokenizer());
    ASSERT_TRUE(fallback.ok()) << fallback.status();
    fallback_ = fallback->release();
  }
  static void TearDownTestSuite() {
    delete fallback_;
    delete edge_;
  }

  // The unsplit model's tokens for kPrompt, sampled by position like everyone else.
  static std::vector<int32_t> Reference(int32_t n, const SamplingParams& sampling) {
    return ::tandem::testing_util::UnsplitTokens(*full_, edge_->tokenizer(), kPrompt, n, 128,
                                                 sampling);
  }

  ResilienceOptions Resilience() {
    ResilienceOptions r;
    r.deadline.floor = absl::Milliseconds(50);
    r.reconnect.initial_backoff = absl::Milliseconds(1);
    r.reconnect.max_backoff = absl::Milliseconds(5);
    r.reconnect.open_timeout = absl::Seconds(5);
    r.reconnect.give_up_after = absl::Seconds(5);
    r.warn = [this](std::string_view line) { warnings_.emplace_back(line); };
    return r;
  }

  std::unique_ptr<ResilientGenerator> Make(std::vector<CloudLink*> links, bool with_fallback,
                                           ResilienceOptions resilience,
                                           CodecKind codec = CodecKind::kF32) {
    std::vector<CloudEndpoint> endpoints;
    for (size_t i = 0; i < links.size(); ++i) {
      endpoints.push_back({.name = "worker-" + std::to_string(i), .link = links[i]});
    }
    auto gen = ResilientGenerator::Create(
        *edge_, std::move(endpoints), with_fallback ? fallback_ : nullptr, pool_, clock_, metrics_,
        {.codec = codec, .max_context = 128, .step_timeout = absl::Seconds(10)}, resilience);
    EXPECT_TRUE(gen.ok()) << gen.status();
    return std::move(*gen);
  }

  // Runs a greedy generation in which `link`'s worker goes down after `tokens` tokens: the
  // stream fails (Unavailable "cut") and opens are refused from then on ("down").
  absl::StatusOr<GenerationResult> RunWorkerDownAfter(ResilientGenerator& gen,
                                                      InProcessCloudLink& link, int32_t tokens,
                                                      int32_t n, Collected& out) {
    link.FailAfterTokens(tokens, absl::UnavailableError("cut"));
    return Run(gen, n, out, {.temperature = 0}, [&](int32_t made) {
      if (made == tokens) link.SetOpenStatus(absl::UnavailableError("down"));
    });
  }

  // Runs a generation; `each` is called after every token (to inject faults).
  absl::StatusOr<GenerationResult> Run(ResilientGenerator& gen, int32_t n, Collected& out,
                                       const SamplingParams& sampling = {.temperature = 0},
                                       std::function<void(int32_t)> each = nullptr) {
    return gen.Generate({.prompt = kPrompt, .max_tokens = n, .sampling = sampling},
                        [&](const GeneratedToken& t) {
                          out.ids.push_back(t.id);
                          out.positions.push_back(t.position);
                          out.modes.push_back(t.mode);
                          if (each) each(static_cast<int32_t>(out.ids.size()));
                          return true;
                        });
  }

  // Positions follow the prompt without a gap or a repeat.
  static void ExpectContiguous(const Collected& c) {
    const int32_t first = static_cast<int32_t>(edge_->tokenizer().Encode(kPrompt, true).size());
    for (size_t i = 0; i < c.positions.size(); ++i) {
      ASSERT_EQ(c.positions[i], first + static_cast<int32_t>(i)) << "token " << i;
    }
  }

  // Contiguous positions and the tokens of the unfaulted greedy run of `n` tokens.
  void ExpectTheUnfaultedRun(const Collected& c, int32_t n) {
    ExpectContiguous(c);
    EXPECT_EQ(c.ids, Reference(n, {.temperature = 0}));
  }

  std::string Scrape() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

  static const LlamaModel* full_;
  static EdgeModel* edge_;
  static FallbackModel* fallback_;
  ThreadPool pool_{1};
  cloud::SettlingClock clock_;  // deterministic switch-back points
  prometheus::Registry registry_;
  EdgeMetrics metrics_{registry_, CodecKind::kF32};
  std::vector<std::string> warnings_;
};

const LlamaModel* ResilientGeneratorTest::full_ = nullptr;
EdgeModel* ResilientGeneratorTest::edge_ = nullptr;
FallbackModel* ResilientGeneratorTest::fallback_ = nullptr;

TEST_F(ResilientGeneratorTest, HealthyLinkStaysOnTheCloudAndEqualsTheUnsplitModel) {
  InProcessCloudLink link;
  auto gen = Make({&link}, /*with_fallback=*/true, Resilience());
  Collected out;
  auto result = Run(*gen, 40, out);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(out.ids, Reference(40, {.temperature = 0}));
  ExpectContiguous(out);
  ASSERT_THAT(result->modes, SizeIs(1));
  EXPECT_EQ(result->modes[0].mode, GenerationMode::kCloud);
  EXPECT_EQ(result->modes[0].tokens, result->completion_tokens);
  EXPECT_EQ(gen->stats().to_fallback, 0);
  EXPECT_EQ(link.opens(), 1);
  EXPECT_EQ(link.closes(), 1);
  EXPECT_TRUE(warnings_.empty());
  EXPECT_TRUE(gen->step_deadline().measured());
}

TEST_F(ResilientGeneratorTest, ALostLinkContinuesOnTheFallbackAtTheNextPosition) {
  InProcessCloudLink link;
  auto gen = Make({&link}, true, Resilience());
  Collected out;
  auto result = RunWorkerDownAfter(*gen, link, 10, 40, out);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectTheUnfaultedRun(out, 40);
  ASSERT_THAT(result->modes, SizeIs(2));
  EXPECT_EQ(result->modes[0].mode, GenerationMode::kCloud);
  EXPECT_EQ(result->modes[0].tokens, 10);
  EXPECT_EQ(result->modes[1].mode, GenerationMode::kFallback);
  EXPECT_EQ(result->modes[1].first, 10);
  EXPECT_EQ(result->modes[1].tokens, result->completion_tokens - 10);
  EXPECT_EQ(gen->stats().to_fallback, 1);
  EXPECT_EQ(gen->stats().to_cloud, 0);
  EXPECT_GT(gen->stats().failed_attempts, 0);
  ASSERT_THAT(warnings_, SizeIs(1));
  EXPECT_THAT(warnings_[0], AllOf(HasSubstr("worker-0"), HasSubstr("UNAVAILABLE: cut"),
                                  HasSubstr("fallback model")));
  const std::string text = Scrape();
  EXPECT_THAT(text, HasSubstr("tandem_edge_mode_switches_total{to=\"fallback\"} 1"));
  EXPECT_THAT(text, HasSubstr("tandem_edge_tokens_by_mode_total{mode=\"cloud\"} 10"));
  EXPECT_THAT(text, HasSubstr("tandem_edge_tokens_by_mode_total{mode=\"fallback\"} " +
                              std::to_string(result->completion_tokens - 10)));
  EXPECT_THAT(text, HasSubstr("tandem_edge_fallback_active 0"));  // the generation ended
  EXPECT_THAT(text, HasSubstr("tandem_edge_link_failures_total{code=\"UNAVAILABLE\"} 1"));
}

TEST_F(ResilientGeneratorTest, ReconnectResumesAndSendsOnlyTheMissingPositions) {
  InProcessCloudLink link;
  ResilienceOptions r = Resilience();
  r.reconnect.min_fallback_tokens = 5;  // come back after exactly five local tokens
  auto gen = Make({&link}, true, r);
  // Tokens 1..8 come from the worker; the answer to the 9th step is lost.
  link.FailOnce(8, absl::UnavailableError("cut"));
  Collected out;
  auto result = Run(*gen, 30, out);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectTheUnfaultedRun(out, 30);
  ASSERT_THAT(result->modes, SizeIs(3));
  EXPECT_EQ(result->modes[0].tokens, 8);
  EXPECT_EQ(result->modes[1].mode, GenerationMode::kFallback);
  EXPECT_EQ(result->modes[1].first, 8);
  EXPECT_EQ(result->modes[1].tokens, 5);
  EXPECT_EQ(result->modes[2].mode, GenerationMode::kCloud);
  EXPECT_EQ(gen->stats().resumed, 1);
  EXPECT_EQ(gen->stats().replayed, 0);
  EXPECT_EQ(gen->stats().to_cloud, 1);

  // The worker ran the prompt and tokens 1..8 (the step of token 8 was processed, its
  // answer lost): it still holds P + 8 positions, which is what the edge vouches for.
  // The catch-up sends the positions of the five fallback tokens, in one chunk.
  const int32_t prompt = static_cast<int32_t>(edge_->tokenizer().Encode(kPrompt, true).size());
  ASSERT_TRUE(link.last_hello().has_value());
  EXPECT_EQ(link.last_hello()->resume_position, prompt + 8);
  EXPECT_EQ(link.last_ready()->cached_positions, prompt + 8);
  EXPECT_EQ(gen->stats().catchup_positions, 5);
  bool found = false;
  for (const HiddenChunk& c : link.chunks()) {
    if (c.start_position == prompt + 8 && c.num_positions == 5 && c.sample) found = true;
  }
  EXPECT_TRUE(found) << "no catch-up chunk of the five fallback positions";
  // Only missing positions: five f32 rows of dim 64 (plus the in-process link's 16 bytes of
  // framing).
  EXPECT_EQ(gen->stats().catchup_bytes, 5 * 64 * 4 + 16);
  ASSERT_THAT(warnings_, SizeIs(2));
  EXPECT_THAT(warnings_[1], AllOf(HasSubstr("back on the cloud worker worker-0"),
                                  HasSubstr("after 5 fallback tokens"),
                                  HasSubstr("5 positions caught up (1296 bytes)")));
  const std::string text = Scrape();
  EXPECT_THAT(text, HasSubstr("tandem_edge_reconnects_total{result=\"resumed\"} 1"));
  EXPECT_THAT(text, HasSubstr("tandem_edge_mode_switches_total{to=\"cloud\"} 1"));
  EXPECT_THAT(text, HasSubstr("tandem_edge_catchup_positions_total 5"));
  EXPECT_THAT(text, HasSubstr("tandem_edge_catchup_bytes_total 1296"));
}

TEST_F(ResilientGeneratorTest, AWorkerThatLostTheSessionGetsTheWholeContextReplayed) {
  InProcessCloudLink link;
  ResilienceOptions r = Resilience();
  r.reconnect.min_fallback_tokens = 3;
  auto gen = Make({&link}, true, r);
  link.FailOnce(6, absl::UnavailableError("worker died"));
  Collected out;
  auto result = Run(*gen, 24, out, {.temperature = 0}, [&](int32_t n) {
    if (n == 7) link.LoseSessions();  // it restarted while the fallback made token 7
  });
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectTheUnfaultedRun(out, 24);
  EXPECT_EQ(gen->stats().replayed, 1);
  EXPECT_EQ(gen->stats().resumed, 0);
  const int32_t prompt = static_cast<int32_t>(edge_->tokenizer().Encode(kPrompt, true).size());
  EXPECT_EQ(link.last_ready()->cached_positions, 0);
  EXPECT_EQ(gen->stats().catchup_positions, prompt + 6 + 3);
  EXPECT_THAT(warnings_.back(), HasSubstr("lost the session (replayed)"));
}

TEST_F(ResilientGeneratorTest, SampledTokensAreTheSameWhoeverDrawsThem) {
  const SamplingParams sampling{.temperature = 0.9f, .top_k = 40, .top_p = 0.95f, .seed = 1234};
  InProcessCloudLink link;
  ResilienceOptions r = Resilience();
  r.reconnect.min_fallback_tokens = 4;
  auto gen = Make({&link}, true, r);
  Collected healthy;
  ASSERT_TRUE(Run(*gen, 40, healthy, sampling).ok());
  EXPECT_EQ(healthy.ids, Reference(40, sampling));
  // Two outages in one generation: cut after 5 tokens, then after 20.
  Collected faulted;
  link.FailOnce(5, absl::UnavailableError("cut"));
  auto result = Run(*gen, 40, faulted, sampling, [&](int32_t n) {
    if (n == 16) link.FailOnce(4, absl::DeadlineExceededError("hung"));
  });
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectContiguous(faulted);
  EXPECT_EQ(faulted.ids, healthy.ids);
  EXPECT_EQ(gen->stats().to_fallback, 2);
  EXPECT_EQ(gen->stats().to_cloud, 2);
  EXPECT_GE(result->modes.size(), 5u);
}

// Speculative decoding with the fallback as the draft model, through the same faults: a
// link lost in the middle of a verification round loses no token and repeats none, and the
// positions of drafts the edge never heard back about are not resumed from.
ResilienceOptions Speculating(ResilienceOptions r) {
  r.speculation = {.enabled = true, .max_draft_tokens = 3, .adaptive = false};
  return r;
}

TEST_F(ResilientGeneratorTest, SpeculationThroughALostLinkLosesAndRepeatsNoToken) {
  InProcessCloudLink link;
  auto gen = Make({&link}, true, Speculating(Resilience()));
  Collected out;
  // The 4th round's answer is lost; the worker stays down.
  auto result = RunWorkerDownAfter(*gen, link, 4, 40, out);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectTheUnfaultedRun(out, 40);
  EXPECT_EQ(gen->stats().to_fallback, 1);
  EXPECT_GT(gen->stats().accepted, 0);
  ASSERT_GE(result->modes.size(), 2u);
  EXPECT_EQ(result->modes[1].mode, GenerationMode::kFallback);
}

TEST_F(ResilientGeneratorTest, SpeculationResumesAfterAnOutageWithTheSameTokens) {
  for (const SamplingParams& sampling :
       {SamplingParams{.temperature = 0},
        SamplingParams{.temperature = 0.9f, .top_k = 40, .top_p = 0.95f, .seed = 1234}}) {
    InProcessCloudLink link;
    ResilienceOptions r = Speculating(Resilience());
    r.reconnect.min_fallback_tokens = 3;
    auto gen = Make({&link}, true, r);
    // Two outages: the answer to the 3rd round is lost, then the 2nd after the reconnect.
    link.FailOnce(2, absl::UnavailableError("cut"));
    Collected out;
    bool second = false;
    auto result = Run(*gen, 40, out, sampling, [&](int32_t n) {
      if (!second && gen->stats().to_cloud == 1) {
        second = true;
        link.FailOnce(1, absl::DeadlineExceededError("hung"));
      }
    });
    ASSERT_TRUE(result.ok()) << result.status();
    ExpectContiguous(out);
    EXPECT_EQ(out.ids, Reference(40, sampling)) << sampling.temperature;
    EXPECT_EQ(gen->stats().to_fallback, 2);
    EXPECT_EQ(gen->stats().to_cloud, 2);
    EXPECT_GT(gen->stats().accepted, 0);
  }
}

TEST_F(ResilientGeneratorTest, SecondEndpointTakesOverWhenTheFirstIsDown) {
  InProcessCloudLink first;
  InProcessCloudLink second;
  ResilienceOptions r = Resilience();
  r.reconnect.min_fallback_tokens = 2;
  r.reconnect.initial_backoff = absl::Microseconds(1);  // the second attempt at once
  auto gen = Make({&first, &second}, true, r);
  Collected out;
  auto result = RunWorkerDownAfter(*gen, first, 4, 20, out);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectTheUnfaultedRun(out, 20);
  EXPECT_EQ(gen->stats().failed_attempts, 1);  // the first worker, then the second
  EXPECT_EQ(gen->stats().replayed, 1);         // the second worker never saw the session
  EXPECT_GE(second.opens(), 1);
  EXPECT_EQ(result->modes.back().mode, GenerationMode::kCloud);
  // The next generation starts on the endpoint that worked.
  const int32_t second_opens = second.opens();
  Collected next;
  ASSERT_TRUE(Run(*gen, 4, next).ok());
  EXPECT_EQ(second.opens(), second_opens + 1);
}

TEST_F(ResilientGeneratorTest, WhileOfflineNewGenerationsStartOnTheFallback) {
  InProcessCloudLink link;
  ResilienceOptions r = Resilience();
  r.reconnect.initial_backoff = absl::Seconds(30);  // no second attempt during the test
  r.reconnect.max_backoff = absl::Seconds(30);
  auto gen = Make({&link}, true, r);
  Collected first;
  ASSERT_TRUE(RunWorkerDownAfter(*gen, link, 2, 10, first).ok());
  const int32_t opens = link.opens();
  Collected second;
  auto result = Run(*gen, 10, second);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_THAT(result->modes, SizeIs(1));
  EXPECT_EQ(result->modes[0].mode, GenerationMode::kFallback);
  EXPECT_EQ(link.opens(), opens);  // no open in the foreground, none due in the background
  EXPECT_EQ(second.ids, Reference(10, {.temperature = 0}));
}

TEST_F(ResilientGeneratorTest, WithoutAFallbackTheGenerationWaitsForAReconnect) {
  InProcessCloudLink link;
  auto gen = Make({&link}, /*with_fallback=*/false, Resilience());
  link.FailOnce(7, absl::UnavailableError("cut"));
  Collected out;
  auto result = Run(*gen, 20, out);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectTheUnfaultedRun(out, 20);
  ASSERT_THAT(result->modes, SizeIs(1));  // every token from the cloud
  EXPECT_EQ(gen->stats().resumed, 1);
  EXPECT_EQ(gen->stats().catchup_positions, 1);  // the one position whose answer was lost
  EXPECT_THAT(warnings_, ElementsAre(HasSubstr("reconnecting (no fallback model)"),
                                     HasSubstr("reconnected to the cloud worker worker-0")));
}

TEST_F(ResilientGeneratorTest, WithoutAFallbackItGivesUpAfterTheConfiguredTime) {
  InProcessCloudLink link;
  ResilienceOptions r = Resilience();
  r.reconnect.give_up_after = absl::Milliseconds(100);
  auto gen = Make({&link}, false, r);
  Collected out;
  auto result = RunWorkerDownAfter(*gen, link, 3, 20, out);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(result.status().message(), HasSubstr("no fallback model"));
  EXPECT_EQ(out.ids.size(), 3u);
  EXPECT_GT(gen->stats().failed_attempts, 1);
}

TEST_F(ResilientGeneratorTest, WithoutFallbackOrReconnectTheLinksErrorEndsTheGeneration) {
  InProcessCloudLink link;
  ResilienceOptions r = Resilience();
  r.reconnect.give_up_after = absl::ZeroDuration();
  auto gen = Make({&link}, false, r);
  link.FailAfterTokens(3, absl::UnavailableError("link cut"));
  Collected out;
  auto result = Run(*gen, 20, out);
  EXPECT_EQ(result.status(), absl::UnavailableError("link cut"));
  EXPECT_EQ(out.ids.size(), 3u);
  EXPECT_EQ(link.opens(), 1);
  EXPECT_THAT(warnings_, ElementsAre(HasSubstr("no fallback model and no reconnect")));
  // The context still holds everything streamed, for a replay.
  EXPECT_EQ(gen->context().size(), edge_->tokenizer().Encode(kPrompt, true).size() + 3);
}

TEST_F(ResilientGeneratorTest, WithoutAFallbackAWorkerThatCannotServeIsAnErrorAtOnce) {
  InProcessCloudLink link;
  auto gen = Make({&link}, false, Resilience());
  link.SetOpenStatus(absl::FailedPreconditionError("model mismatch"));
  Collected out;
  auto result = Run(*gen, 5, out);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("model mismatch"));
  EXPECT_EQ(link.opens(), 1);
}

TEST_F(ResilientGeneratorTest, QuantizedCodecMatchesTheUnfaultedRunUpToTheFirstFallbackToken) {
  InProcessCloudLink link;
  auto gen = Make({&link}, true, Resilience(), CodecKind::kQ4);
  Collected healthy;
  ASSERT_TRUE(Run(*gen, 30, healthy).ok());
  Collected faulted;
  auto result = RunWorkerDownAfter(*gen, link, 12, 30, faulted);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectContiguous(faulted);
  ASSERT_EQ(faulted.modes[12], GenerationMode::kFallback);
  EXPECT_EQ(std::vector<int32_t>(faulted.ids.begin(), faulted.ids.begin() + 12),
            std::vector<int32_t>(healthy.ids.begin(), healthy.ids.begin() + 12));
}

TEST_F(ResilientGeneratorTest, FallbackWithAnotherVocabularyIsRefused) {
  Vocabulary vocab = edge_->tokenizer().vocabulary();
  vocab.pieces[100] = "something else";
  auto other = Tokenizer::FromVocabulary(vocab);
  ASSERT_TRUE(other.ok()) << other.status();
  absl::Status status = CheckSameVocabulary(edge_->tokenizer(), *other);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("token 100"), HasSubstr("tokenizer")));
  vocab.pieces.pop_back();
  vocab.scores.pop_back();
  vocab.types.pop_back();
  auto shorter = Tokenizer::FromVocabulary(vocab);
  ASSERT_TRUE(shorter.ok()) << shorter.status();
  EXPECT_THAT(CheckSameVocabulary(edge_->tokenizer(), *shorter).message(),
              HasSubstr("vocabulary of 511 tokens, the main model 512"));
  EXPECT_TRUE(CheckSameVocabulary(edge_->tokenizer(), edge_->tokenizer()).ok());
}

TEST_F(ResilientGeneratorTest, FallbackMustBeACompleteModelThatHoldsTheContext) {
  auto gen = ResilientGenerator::Create(
      *edge_, {{.name = "w", .link = nullptr}}, fallback_, pool_, clock_, metrics_,
      {.codec = CodecKind::kF32, .max_context = 128}, Resilience());
  EXPECT_EQ(gen.status().code(), absl::StatusCode::kInvalidArgument);
  InProcessCloudLink link;
  auto too_long = ResilientGenerator::Create(
      *edge_, {{.name = "w", .link = &link}}, fallback_, pool_, clock_, metrics_,
      {.codec = CodecKind::kF32, .max_context = 0}, Resilience());
  // The embedded model's own context is the limit on both sides: accepted.
  EXPECT_TRUE(too_long.ok()) << too_long.status();
}

TEST_F(ResilientGeneratorTest, StopsAtTheContextEndOnTheFallback) {
  InProcessCloudLink link;
  auto gen = Make({&link}, true, Resilience());
  Collected out;
  auto result = RunWorkerDownAfter(*gen, link, 1, -1, out);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectContiguous(out);
  if (result->finish_reason == FinishReason::kLength) {
    EXPECT_EQ(out.positions.back(), 128);  // sampled at the end, never run
  }
}

}  // namespace
}  // namespace tandem::edge
