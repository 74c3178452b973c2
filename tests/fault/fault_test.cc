// Resilience under injected faults, end to end: a real worker over gRPC + TLS behind a
// fault proxy, the real edge with the fallback model, and a hundred mixed faults (cuts,
// black holes, worker kills and restarts, latency spikes, loss) at random points across
// back-to-back generations. Every stream must complete with contiguous positions, and the
// tokens must be the unfaulted ones: with the lossless f32 codec and the same model as the
// fallback every token, whoever made it; with q8, the cloud's tokens up to the first
// fallback token.
//
// TANDEM_FAULTS and TANDEM_FAULT_SEED override the number of faults and the seed (the soak
// script runs thousands).
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"
#include "tests/fault/fault_rig.h"

namespace tandem::fault {
namespace {

using edge::GeneratedToken;
using edge::GenerationMode;

const std::vector<std::string>& Prompts() {
  static const std::vector<std::string> prompts = {
      "Once upon a time, there was a little girl named Lily.",
      "Tom and his dog went to the park.",
      "The sun was shining and the birds were singing.",
      "One day, a big bear found a red ball in the forest.",
  };
  return prompts;
}

int64_t EnvOr(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  int64_t out = fallback;
  if (v != nullptr && !absl::SimpleAtoi(v, &out)) out = fallback;
  return out;
}

struct Totals {
  int32_t generations = 0;
  int64_t tokens = 0;
  int64_t fallback_tokens = 0;
  int32_t mixed_generations = 0;  // with tokens from both modes
};

// Runs generations until the injector is done; checks every one.
void RunUnderFaults(FaultRig& rig, const InjectorOptions& injector_options, bool exact_all,
                    Totals& totals) {
  constexpr int32_t kTokens = 48;
  // The unfaulted run of each prompt, on the same rig before any fault.
  std::vector<std::vector<int32_t>> reference;
  for (const std::string& p : Prompts()) {
    std::vector<int32_t> ids;
    auto result = rig.generator().Generate(
        {.prompt = p, .max_tokens = kTokens, .sampling = {.temperature = 0}},
        [&](const GeneratedToken& t) {
          EXPECT_EQ(t.mode, GenerationMode::kCloud);
          ids.push_back(t.id);
          return true;
        });
    ASSERT_TRUE(result.ok()) << result.status();
    // Lossless: the split model is the unsplit model.
    if (exact_all) {
      ASSERT_EQ(ids, rig.Reference(p, kTokens, {.temperature = 0}));
    }
    reference.push_back(std::move(ids));
  }
  FaultInjector injector(rig, injector_options);
  while (!injector.done()) {
    const size_t which = totals.generations % Prompts().size();
    const std::string& prompt = Prompts()[which];
    const int32_t prompt_tokens =
        static_cast<int32_t>(rig.edge_model().tokenizer().Encode(prompt, true).size());
    std::vector<int32_t> ids, positions;
    std::vector<GenerationMode> modes;
    auto result = rig.generator().Generate(
        {.prompt = prompt, .max_tokens = kTokens, .sampling = {.temperature = 0}},
        [&](const GeneratedToken& t) {
          ids.push_back(t.id);
          positions.push_back(t.position);
          modes.push_back(t.mode);
          absl::SleepFor(absl::Milliseconds(1));  // an app reading the stream
          return true;
        });
    const std::string where =
        absl::StrCat("generation ", totals.generations, " (prompt ", which, "), faults so far: ",
                     injector.counts()[0] + injector.counts()[1] + injector.counts()[2] +
                         injector.counts()[3] + injector.counts()[4]);
    ASSERT_TRUE(result.ok()) << where << ": " << result.status();
    ASSERT_EQ(result->completion_tokens, static_cast<int32_t>(ids.size())) << where;
    for (size_t i = 0; i < positions.size(); ++i) {
      ASSERT_EQ(positions[i], prompt_tokens + static_cast<int32_t>(i)) << where << " token " << i;
    }
    // Up to the first fallback token the cloud's tokens are the unfaulted run's.
    size_t first_fallback = modes.size();
    for (size_t i = 0; i < modes.size(); ++i) {
      if (modes[i] == GenerationMode::kFallback) {
        first_fallback = i;
        break;
      }
    }
    ASSERT_LE(first_fallback, reference[which].size()) << where;
    EXPECT_EQ(
        std::vector<int32_t>(ids.begin(), ids.begin() + first_fallback),
        std::vector<int32_t>(reference[which].begin(), reference[which].begin() + first_fallback))
        << where;
    if (exact_all) {
      EXPECT_EQ(ids, reference[which]) << where;
    }
    ++totals.generations;
    totals.tokens += static_cast<int64_t>(ids.size());
    const int64_t local = std::count(modes.begin(), modes.end(), GenerationMode::kFallback);
    totals.fallback_tokens += local;
    if (local > 0 && local < static_cast<int64_t>(modes.size())) ++totals.mixed_generations;
  }
  ASSERT_TRUE(injector.status().ok()) << injector.status();
  const std::vector<int32_t> counts = injector.counts();
  std::string summary;
  int32_t faults = 0;
  for (int k = 0; k < 5; ++k) {
    absl::StrAppend(&summary, FaultKindName(static_cast<FaultKind>(k)), "=", counts[k], " ");
    faults += counts[k];
  }
  EXPECT_EQ(faults, injector_options.faults);
  const edge::ResilienceStats& s = rig.generator().stats();
  std::cout << "faults: " << summary << "| generations " << totals.generations << ", tokens "
            << totals.tokens << " (" << totals.fallback_tokens << " on the fallback), mixed "
            << totals.mixed_generations << ", switches to fallback " << s.to_fallback
            << ", back to cloud " << s.to_cloud << " (resumed " << s.resumed << ", replayed "
            << s.replayed << "), failed attempts " << s.failed_attempts << ", catch-up positions "
            << s.catchup_positions << " (" << s.catchup_bytes << " bytes)" << std::endl;
}

TEST(FaultTest, HundredMixedFaultsLoseNoTokenAndChangeNone) {
  RigOptions options;
  options.codec = CodecKind::kF32;
  options.quiet = EnvOr("TANDEM_FAULT_VERBOSE", 0) == 0;
  auto rig = FaultRig::Create(options);
  ASSERT_TRUE(rig.ok()) << rig.status();
  InjectorOptions injector;
  injector.faults = static_cast<int32_t>(EnvOr("TANDEM_FAULTS", 100));
  injector.seed = static_cast<uint64_t>(EnvOr("TANDEM_FAULT_SEED", 1));
  injector.verbose = !options.quiet;
  if (const char* kinds = std::getenv("TANDEM_FAULT_KINDS"); kinds != nullptr) {
    injector.kinds.clear();
    for (char c : std::string(kinds)) injector.kinds.push_back(static_cast<FaultKind>(c - '0'));
  }
  Totals totals;
  ASSERT_NO_FATAL_FAILURE(RunUnderFaults(**rig, injector, /*exact_all=*/true, totals));
  const edge::ResilienceStats& s = (*rig)->generator().stats();
  // The faults did bite: the stream moved to the fallback and came back, both by resuming a
  // session the worker still had and by replaying one a restarted worker had lost.
  EXPECT_GT(s.to_fallback, 0);
  EXPECT_GT(s.to_cloud, 0);
  EXPECT_GT(s.resumed, 0);
  EXPECT_GT(s.replayed, 0);
  EXPECT_GT(totals.mixed_generations, 0);
  EXPECT_GT(totals.tokens - totals.fallback_tokens, 0);
  EXPECT_EQ((*rig)->warnings(), s.to_fallback + s.to_cloud);  // one line per switch
  const std::string text =
      prometheus::TextSerializer().Serialize((*rig)->edge_registry().Collect());
  EXPECT_THAT(text, ::testing::HasSubstr("tandem_edge_fallback_active 0"));
  EXPECT_THAT(text, ::testing::HasSubstr(absl::StrCat(
                        "tandem_edge_mode_switches_total{to=\"fallback\"} ", s.to_fallback)));
}

TEST(FaultTest, SpeculativeDecodingUnderMixedFaultsLosesNoTokenAndChangesNone) {
  // The fallback drafts three tokens a round: faults now also land between a verification
  // chunk and its answer, with drafts on both sides that must be forgotten.
  RigOptions options;
  options.codec = CodecKind::kF32;
  options.speculation = {.enabled = true, .max_draft_tokens = 3, .adaptive = false};
  auto rig = FaultRig::Create(options);
  ASSERT_TRUE(rig.ok()) << rig.status();
  InjectorOptions injector;
  injector.faults = 40;
  injector.seed = static_cast<uint64_t>(EnvOr("TANDEM_FAULT_SEED", 1)) + 2000;
  Totals totals;
  ASSERT_NO_FATAL_FAILURE(RunUnderFaults(**rig, injector, /*exact_all=*/true, totals));
  const edge::ResilienceStats& s = (*rig)->generator().stats();
  EXPECT_GT(s.to_fallback, 0);
  EXPECT_GT(s.to_cloud, 0);
  EXPECT_GT(s.accepted, 0);
  // Fewer round trips than cloud tokens: the drafts were used.
  EXPECT_LT(s.rounds, s.cloud_tokens);
}

TEST(FaultTest, QuantizedLinkKeepsTheCloudTokensUpToTheFirstFallbackToken) {
  RigOptions options;
  options.codec = CodecKind::kQ8;
  auto rig = FaultRig::Create(options);
  ASSERT_TRUE(rig.ok()) << rig.status();
  InjectorOptions injector;
  injector.faults = 20;
  injector.seed = static_cast<uint64_t>(EnvOr("TANDEM_FAULT_SEED", 1)) + 1000;
  Totals totals;
  ASSERT_NO_FATAL_FAILURE(RunUnderFaults(**rig, injector, /*exact_all=*/false, totals));
  EXPECT_GT((*rig)->generator().stats().to_fallback, 0);
}

}  // namespace
}  // namespace tandem::fault
