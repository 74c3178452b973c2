// The split-point cost model on fixed inputs: the arithmetic of one prediction, and the
// recommended K (and codec) moving in the expected direction as RTT, bandwidth, memory
// budget and the objective change.
#include "edge/tune/cost_model.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem::tune {
namespace {

using ::testing::HasSubstr;

constexpr int32_t kLayers = 8;

// A device `device_ms` per layer and a worker `cloud_ms` per layer (decode), prompt
// chunks of 16 positions at 4x the decode time; f16 (4096 bytes, cheap) and q8 (2176
// bytes, 0.2 ms to encode); a 20 ms, 10 MB/s link; 10 MiB per layer on the device.
CostInputs Inputs(double device_ms, double cloud_ms) {
  CostInputs in;
  in.n_layers = kLayers;
  for (SideProfile* side : {&in.device, &in.cloud}) {
    const double ms = side == &in.device ? device_ms : cloud_ms;
    side->layers.assign(kLayers, LayerCost{ms * 1e-3, 4 * ms * 1e-3});
    side->first_layer = 0;
    side->end_layer = kLayers;
    side->prompt_chunk_positions = 16;
  }
  in.device.fixed_decode_seconds = 0.1e-3;
  in.cloud.fixed_decode_seconds = 3e-3;
  in.codecs = {{CodecKind::kF16, 4096, 0.01e-3, 0.01e-3}, {CodecKind::kQ8, 2176, 0.2e-3, 0.02e-3}};
  in.link = {.rtt_seconds = 20e-3,
             .uplink_bytes_per_second = 10e6,
             .downlink_bytes_per_second = 10e6,
             .message_overhead_bytes = 40,
             .reply_bytes = 24};
  in.memory.embedding_bytes = 64 << 20;
  in.memory.layer_bytes.assign(kLayers, 10 << 20);
  in.memory.kv_bytes_per_layer_position = 2 * 4 * 256;
  in.workload = {.context_positions = 512, .prompt_tokens = 40};
  return in;
}

Recommendation Pick(const CostInputs& in, const Constraints& c) {
  EXPECT_TRUE(ValidateCostInputs(in).ok()) << ValidateCostInputs(in);
  auto r = Recommend(PredictAll(in), c);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : Recommendation{};
}

TEST(CostModelTest, PredictionAddsUpTheParts) {
  CostInputs in = Inputs(5, 2);
  const Prediction p = Predict(in, 3, in.codecs[1]);  // q8
  EXPECT_EQ(p.split, 3);
  EXPECT_NEAR(p.device_seconds, 0.1e-3 + 3 * 5e-3 + 0.2e-3, 1e-12);
  EXPECT_NEAR(p.link_seconds, 20e-3 + (2176 + 40) / 10e6 + 24 / 10e6, 1e-12);
  EXPECT_NEAR(p.cloud_seconds, 0.02e-3 + 5 * 2e-3 + 3e-3, 1e-12);
  EXPECT_NEAR(p.per_token_seconds, p.device_seconds + p.link_seconds + p.cloud_seconds, 1e-12);
  EXPECT_DOUBLE_EQ(p.up_bytes_per_token, 2216);
  EXPECT_EQ(p.device_bytes, (64 << 20) + 3 * (10 << 20) + 3 * 2048 * 512);
}

TEST(CostModelTest, FirstTokenIsAPipelineOfChunks) {
  CostInputs in = Inputs(5, 2);
  in.workload.prompt_tokens = 16;  // one chunk: nothing overlaps
  const CodecCost& f16 = in.codecs[0];
  const Prediction one = Predict(in, 2, f16);
  const double device = 16 * 0.1e-3 + 2 * 20e-3 + 16 * f16.encode_seconds;
  const double link = (16 * 4096 + 40) / 10e6;
  const double cloud = 16 * f16.decode_seconds + 6 * 8e-3;
  EXPECT_NEAR(one.first_token_seconds,
              20e-3 + device + link + 10e-3 + cloud + 3e-3 + 10e-3 + 24 / 10e6, 1e-9);
  // Four chunks overlap: the slowest stage (here the worker's 48 ms per chunk, against
  // the device's 42 ms and the link's 7 ms) sets the pace after the first chunk.
  in.workload.prompt_tokens = 64;
  EXPECT_NEAR(Predict(in, 2, f16).first_token_seconds, one.first_token_seconds + 3 * cloud, 1e-9);
  // With a slower device the device does.
  CostInputs slow = Inputs(10, 1);
  slow.workload.prompt_tokens = 16;
  const double slow_one = Predict(slow, 2, f16).first_token_seconds;
  slow.workload.prompt_tokens = 64;
  const double slow_device = 16 * 0.1e-3 + 2 * 40e-3 + 16 * f16.encode_seconds;
  EXPECT_NEAR(Predict(slow, 2, f16).first_token_seconds, slow_one + 3 * slow_device, 1e-9);
}

TEST(CostModelTest, SlowDeviceRunsTheFewestLayersForLatency) {
  const Recommendation r = Pick(Inputs(10, 2), {});
  EXPECT_EQ(r.choice.split, 1);
  Constraints privacy;
  privacy.min_edge_layers = 3;
  EXPECT_EQ(Pick(Inputs(10, 2), privacy).choice.split, 3);
}

TEST(CostModelTest, LowerBandwidthPrefersTheSmallerCodec) {
  CostInputs fast = Inputs(10, 2);
  fast.link.uplink_bytes_per_second = 1e9;  // the q8 encode time is not worth it
  EXPECT_EQ(Pick(fast, {.latency_tolerance = 0}).choice.codec, CodecKind::kF16);
  CostInputs slow = Inputs(10, 2);
  slow.link.uplink_bytes_per_second = 1e6;  // 1.9 ms saved per token
  EXPECT_EQ(Pick(slow, {.latency_tolerance = 0}).choice.codec, CodecKind::kQ8);
}

// The K recommended for each x of a sweep, in order: pick(x).
template <typename T, typename PickFn>
std::vector<int32_t> SplitsOver(std::initializer_list<T> xs, PickFn pick) {
  std::vector<int32_t> ks;
  for (T x : xs) ks.push_back(pick(x).choice.split);
  return ks;
}

bool NonIncreasing(const std::vector<int32_t>& ks) {
  return std::is_sorted(ks.rbegin(), ks.rend());
}
TEST(CostModelTest, SpeculationFollowsTheRoundTripAndTheAcceptance) {
  CostInputs in = Inputs(5, 2);
  const Prediction plain = Predict(in, 3, in.codecs[1]);
  EXPECT_EQ(plain.draft_tokens, 0);
  EXPECT_DOUBLE_EQ(plain.speculative_token_seconds, plain.per_token_seconds);
  // A 2 ms draft accepted 80% of the time: a round of g drafts costs g * (2 ms + one more
  // position on each side at the prompt rate (4x decode / 16) + one more row) on top of
  // the plain step and yields (1 - 0.8^(g+1)) / 0.2 tokens.
  in.speculation = {.draft_seconds_per_token = 2e-3, .acceptance = 0.8, .max_draft_tokens = 8};
  const Prediction spec = Predict(in, 3, in.codecs[1]);
  const double extra = 2e-3 + 3 * 5e-3 / 4 + 5 * 2e-3 / 4 + 0.2e-3 + 0.02e-3 + 2176 / 10e6;
  ASSERT_GT(spec.draft_tokens, 0);
  const int32_t g = spec.draft_tokens;
  EXPECT_NEAR(spec.speculative_token_seconds,
              (plain.per_token_seconds + g * extra) / ((1 - std::pow(0.8, g + 1)) / 0.2), 1e-12);
  EXPECT_LT(spec.speculative_token_seconds, 0.6 * plain.per_token_seconds);
  EXPECT_DOUBLE_EQ(spec.per_token_seconds, plain.per_token_seconds);
  // A longer round trip makes longer drafts pay.
  CostInputs far = in;
  far.link.rtt_seconds = 200e-3;
  EXPECT_GE(Predict(far, 3, far.codecs[1]).draft_tokens, g);
  // A draft the worker never accepts is not used.
  in.speculation.acceptance = 0;
  EXPECT_EQ(Predict(in, 3, in.codecs[1]).draft_tokens, 0);
  in.speculation.acceptance = 1.5;
  EXPECT_FALSE(ValidateCostInputs(in).ok());
}

// `in` with a link of `rtt_ms` round trips.
CostInputs WithRtt(CostInputs in, double rtt_ms) {
  in.link.rtt_seconds = rtt_ms * 1e-3;
  return in;
}

// Most device layers within a latency target: the slower the link, the less time is left
// for the (slow) device, so K goes down.
TEST(CostModelTest, CloudWorkWithTargetMovesKDownAsTheLinkSlows) {
  Constraints c{.latency_target_seconds = 100e-3, .objective = Objective::kCloudWork};
  const std::vector<int32_t> by_rtt = SplitsOver({5.0, 20.0, 40.0, 60.0, 70.0}, [&](double ms) {
    const Recommendation r = Pick(WithRtt(Inputs(10, 2), ms), c);
    EXPECT_TRUE(r.meets_latency_target) << "RTT " << ms << " ms";
    return r;
  });
  EXPECT_TRUE(NonIncreasing(by_rtt)) << ::testing::PrintToString(by_rtt);
  EXPECT_EQ(by_rtt.front(), 7);  // 0.1 + 70 + 0.01 + 5 + 0.4 + 2 + 3 = 80.5 ms
  EXPECT_EQ(by_rtt.back(), 1);   // 0.1 + 10 + 0.01 + 70 + 0.4 + 14 + 3 = 97.5 ms

  const std::vector<int32_t> by_uplink = SplitsOver({100.0, 1.0, 0.2, 0.1}, [&](double mbytes) {
    CostInputs in = Inputs(10, 2);
    in.link.uplink_bytes_per_second = mbytes * 1e6;
    return Pick(in, c);
  });
  EXPECT_TRUE(NonIncreasing(by_uplink)) << ::testing::PrintToString(by_uplink);
  EXPECT_GT(by_uplink.front(), by_uplink.back());
}

TEST(CostModelTest, SmallerMemoryBudgetMovesKDown) {
  // A fast device (1 ms per layer) and a busy worker (8 ms): latency wants K large, the
  // memory budget caps it.
  const std::vector<int32_t> ks = SplitsOver({0, 200, 150, 100, 80}, [&](int64_t mib) {
    const Recommendation r = Pick(Inputs(1, 8), {.memory_budget_bytes = mib << 20});
    if (mib > 0) {
      EXPECT_LE(r.choice.device_bytes, mib << 20) << mib << " MiB";
    }
    return r;
  });
  EXPECT_TRUE(NonIncreasing(ks)) << ::testing::PrintToString(ks);
  EXPECT_EQ(ks.front(), kLayers - 1);
  EXPECT_EQ(ks.back(), 1);  // 64 + 10 MiB + KV
  // The same under the cloud-work objective.
  Constraints tight{.memory_budget_bytes = int64_t{100} << 20, .objective = Objective::kCloudWork};
  EXPECT_EQ(Pick(Inputs(10, 2), tight).choice.split, 3);
}

// Fewest device layers within a latency target, with a device faster than the worker:
// the slower the link, the more layers must run on the device.
TEST(CostModelTest, EdgeWorkWithTargetMovesKUpAsRttGrows) {
  Constraints c{.latency_target_seconds = 80e-3, .objective = Objective::kEdgeWork};
  const std::vector<int32_t> ks = SplitsOver({5.0, 20.0, 35.0, 50.0}, [&](double ms) {
    const Recommendation r = Pick(WithRtt(Inputs(1, 10), ms), c);
    EXPECT_TRUE(r.meets_latency_target) << "RTT " << ms << " ms";
    return r;
  });
  EXPECT_TRUE(std::is_sorted(ks.begin(), ks.end())) << ::testing::PrintToString(ks);
  EXPECT_LT(ks.front(), ks.back());
}

TEST(CostModelTest, UnreachableTargetReturnsTheFastest) {
  Constraints c{.latency_target_seconds = 1e-3, .objective = Objective::kCloudWork};
  const Recommendation r = Pick(Inputs(10, 2), c);
  EXPECT_FALSE(r.meets_latency_target);
  EXPECT_EQ(r.choice.split, 1);
  EXPECT_THAT(r.reason, HasSubstr("no split meets"));
}

TEST(CostModelTest, HardConstraintsThatNothingFitsAreErrors) {
  CostInputs in = Inputs(10, 2);
  auto tiny = Recommend(PredictAll(in), {.memory_budget_bytes = 1 << 20});
  EXPECT_EQ(tiny.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(tiny.status().message(), HasSubstr("memory budget 1.0 MiB"));
  auto privacy = Recommend(PredictAll(in), {.min_edge_layers = kLayers});
  EXPECT_EQ(privacy.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(privacy.status().message(), HasSubstr("largest split point available is K = 7"));
}

TEST(CostModelTest, CandidatesStayInsideWhatBothSidesHold) {
  CostInputs in = Inputs(10, 2);
  in.device.end_layer = 5;   // an edge shard with layers [0, 5)
  in.cloud.first_layer = 2;  // a cloud shard with layers [2, 8)
  ASSERT_TRUE(ValidateCostInputs(in).ok());
  const std::vector<Prediction> all = PredictAll(in);
  ASSERT_EQ(all.size(), 4u * 2);
  EXPECT_EQ(all.front().split, 2);
  EXPECT_EQ(all.back().split, 5);
}

TEST(CostModelTest, WorkerCalibrationFitsRealSteps) {
  CostInputs in = Inputs(10, 2);  // worker profile: 2 ms per layer, 3 ms fixed
  // Real steps: 1.5x the profile plus 1 ms (K = 1: 7 layers, K = 7: 1 layer).
  auto real = [&](int32_t k) { return 1e-3 + 1.5 * ((kLayers - k) * 2e-3 + 3e-3); };
  WorkerCalibration c = FitWorkerCalibration(in.cloud, kLayers, {{1, real(1)}, {7, real(7)}});
  EXPECT_NEAR(c.scale, 1.5, 1e-9);
  EXPECT_NEAR(c.offset_seconds, 1e-3, 1e-12);
  ApplyWorkerCalibration(c, in.cloud);
  for (int32_t k : {2, 4, 6}) {
    EXPECT_NEAR(Predict(in, k, in.codecs[0]).cloud_seconds - in.codecs[0].decode_seconds, real(k),
                1e-12)
        << k;
  }
  EXPECT_DOUBLE_EQ(in.cloud.layers[3].prompt_chunk_seconds, 8e-3);  // left as measured

  // One split point: a pure scale. Noise that would make the offset negative: the same.
  CostInputs one = Inputs(10, 2);
  c = FitWorkerCalibration(one.cloud, kLayers, {{1, 2 * 17e-3}});
  EXPECT_NEAR(c.scale, 2, 1e-9);
  EXPECT_EQ(c.offset_seconds, 0);
  c = FitWorkerCalibration(one.cloud, kLayers, {{1, 17e-3}, {7, 1e-3}});
  EXPECT_EQ(c.offset_seconds, 0);
  EXPECT_NEAR(c.scale, (17.0 * 17 + 5 * 1) / (17.0 * 17 + 5 * 5), 1e-9);
  EXPECT_EQ(FitWorkerCalibration(one.cloud, kLayers, {}).scale, 1);
}

TEST(CostModelTest, BadInputsAreNamed) {
  CostInputs in = Inputs(10, 2);
  in.link.uplink_bytes_per_second = 0;
  EXPECT_THAT(ValidateCostInputs(in).message(), HasSubstr("link"));
  in = Inputs(10, 2);
  in.cloud.layers[5].decode_seconds = -1;
  EXPECT_THAT(ValidateCostInputs(in).message(), HasSubstr("layer 5"));
  in = Inputs(10, 2);
  in.codecs.clear();
  EXPECT_FALSE(ValidateCostInputs(in).ok());
  EXPECT_EQ(ParseObjective("cloud-work").value(), Objective::kCloudWork);
  EXPECT_FALSE(ParseObjective("speed").ok());
}

}  // namespace
}  // namespace tandem::tune
