// The tuner's measurement side on the real model with a fake worker: the device profile
// (real runs of the real layers), the link fit, the procedure end to end, the config
// file round trip, and the table and chart.
#include "edge/tune/tuner.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"
#include "common/model/llama_model.h"
#include "edge/tune/device_profiler.h"
#include "edge/tune/link_prober.h"
#include "edge/tune/report_table.h"
#include "edge/tune/svg_chart.h"
#include "edge/tune/tuned_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/edge/tune/fake_worker_probe.h"
#include "tests/util/in_process_cloud_link.h"

namespace tandem::tune {
namespace {

using ::testing::HasSubstr;

class TunerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = LlamaModel::Load(TANDEM_TEST_MODEL, {.embedding = true, .head = false});
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    probe_.info = {.model_id = model_->identity(),
                   .n_layers = 5,
                   .hidden_dim = 64,
                   .first_layer = 0,
                   .codecs = {CodecKind::kF32, CodecKind::kF16, CodecKind::kQ8, CodecKind::kQ4},
                   .max_context = 256};
  }

  TuneOptions Options() {
    TuneOptions o;
    o.prompt_tokens = 12;
    o.gen_tokens = 8;
    o.prompt_chunk_positions = 8;
    o.repetitions = 2;
    o.link.rounds = 3;
    o.link.sizes = {0, 1024, 65536};
    return o;
  }

  std::unique_ptr<LlamaModel> model_;
  FakeWorkerProbe probe_;
};

TEST_F(TunerTest, DeviceProfileTimesEveryHeldLayerAndCodec) {
  auto m = ProfileDevice(*model_, {.threads = 1,
                                   .context_positions = 16,
                                   .prompt_chunk_positions = 8,
                                   .repetitions = 2,
                                   .codecs = {CodecKind::kF32, CodecKind::kQ4}});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->profile.end_layer, 5);
  for (const LayerCost& c : m->profile.layers) {
    EXPECT_GT(c.decode_seconds, 0);
    EXPECT_GT(c.prompt_chunk_seconds, 0);
  }
  ASSERT_EQ(m->codecs.size(), 2u);
  EXPECT_EQ(m->codecs[0].row_bytes, 256);  // f32 at dim 64
  EXPECT_EQ(m->codecs[1].row_bytes, 44);   // q4
  // Sizes from the file: f32 layers of this model, a 512 x 64 f32 embedding.
  EXPECT_EQ(m->memory.embedding_bytes, 512 * 64 * 4);
  EXPECT_EQ(m->memory.layer_bytes[0], 4 * (64 * 64 * 2 + 64 * 32 * 2 + 64 * 172 * 3 + 64 * 2));
  EXPECT_EQ(m->memory.kv_bytes_per_layer_position, 2 * 4 * 32);

  auto bad = ProfileDevice(*model_, {.context_positions = 5000});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto cloud_part = LlamaModel::Load(TANDEM_TEST_MODEL, {.layer_begin = 2, .embedding = false});
  ASSERT_TRUE(cloud_part.ok());
  EXPECT_EQ(ProfileDevice(**cloud_part, {}).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TunerTest, LinkFitRecoversRttAndBandwidth) {
  probe_.rtt_seconds = 30e-3;
  probe_.bytes_per_second = 5e6;
  auto link = ProbeLink(probe_, {.rounds = 3, .sizes = {0, 2048, 65536, 1 << 20}});
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_NEAR(link->estimate.rtt_seconds, 30e-3, 1e-9);  // the worker's time is subtracted
  EXPECT_NEAR(link->estimate.uplink_bytes_per_second, 5e6, 1);
  EXPECT_NEAR(link->estimate.downlink_bytes_per_second, 5e6, 1);
  // A slow link stops growing the payloads once one takes longer than max_echo.
  probe_.bytes_per_second = 1e5;
  link = ProbeLink(probe_, {.rounds = 1, .sizes = {0, 65536, 1 << 20}});
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->uplink.size(), 2u);
  // Loopback-like flat lines are capped, not infinite or negative.
  EXPECT_EQ(FitBandwidth({{0, 1e-4}, {1000, 0.9e-4}}), 1e11);
  probe_.fail = absl::UnavailableError("link down");
  EXPECT_EQ(ProbeLink(probe_, {}).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(TunerTest, TunesEndToEndAgainstAFakeWorker) {
  std::ostringstream log;
  auto r = Tune(*model_, probe_, nullptr, Options(), {}, log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(log.str(), HasSubstr("profiling layers [0, 5)"));
  ASSERT_EQ(probe_.profiles.size(), 1u);
  EXPECT_EQ(probe_.profiles[0].first_layer, 1);  // K >= 1
  EXPECT_EQ(probe_.profiles[0].context_positions, 16);
  // K = 1..4, f16 and q8.
  ASSERT_EQ(r->predictions.size(), 8u);
  EXPECT_TRUE(r->measured_link.has_value());
  EXPECT_NEAR(r->inputs.link.rtt_seconds, 2e-3, 1e-9);
  for (const Prediction& p : r->predictions) EXPECT_GT(p.per_token_seconds, 2e-3);
  EXPECT_EQ(r->inputs.workload.context_positions, 20);

  // Simulated: no echoes at all, the planned link in the inputs.
  TuneOptions simulated = Options();
  simulated.simulate_rtt_seconds = 0.04;
  simulated.simulate_bandwidth_bytes_per_second = 1e6;
  const int echoes = probe_.echoes;
  r = Tune(*model_, probe_, nullptr, simulated, {}, log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(probe_.echoes, echoes);
  EXPECT_FALSE(r->measured_link.has_value());
  EXPECT_DOUBLE_EQ(r->inputs.link.rtt_seconds, 0.04);
  EXPECT_GT(r->recommendation.choice.per_token_seconds, 0.04);
}

TEST_F(TunerTest, RealStepsCalibrateTheWorkerProfile) {
  testing_util::InProcessCloudLink link;  // a real worker: layers [K, N), head, sampler
  probe_.layer_decode_seconds = 1e-9;     // a profile far off the real steps
  probe_.head_seconds = 1e-9;
  probe_.rtt_seconds = 0;  // the link is in process
  probe_.server_seconds = 0;
  probe_.bytes_per_second = 1e12;
  TuneOptions options = Options();
  options.calibration_steps = 4;
  std::ostringstream log;
  auto r = Tune(*model_, probe_, &link, options, {}, log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(log.str(), HasSubstr("real decode steps on the worker at K = 1"));
  ASSERT_EQ(r->calibration_samples.size(), 2u);
  EXPECT_EQ(r->calibration_samples[0].split, 1);
  EXPECT_EQ(r->calibration_samples[1].split, 4);
  EXPECT_GT(r->calibration.scale, 1);
  EXPECT_EQ(link.closes(), 2);  // both sessions ended
  // The calibrated profile reproduces the samples (exactly if the fit has an offset,
  // in the least-squares sense through the origin otherwise).
  const CodecCost& codec = r->inputs.codecs.front();
  const double p1 = Predict(r->inputs, 1, codec).cloud_seconds - codec.decode_seconds;
  const double p4 = Predict(r->inputs, 4, codec).cloud_seconds - codec.decode_seconds;
  const double y1 = r->calibration_samples[0].cloud_seconds;
  const double y4 = r->calibration_samples[1].cloud_seconds;
  if (r->calibration.offset_seconds > 0) {
    EXPECT_NEAR(p1, y1, 1e-9);
    EXPECT_NEAR(p4, y4, 1e-9);
  } else {
    // Residuals orthogonal to the profile: sum of x * (y - scale x) = 0, x = p / scale.
    EXPECT_NEAR(p1 * (y1 - p1) + p4 * (y4 - p4), 0, 1e-12);
  }
}

TEST_F(TunerTest, WorkerOfAnotherModelOrWithoutTheCodecsIsRefused) {
  std::ostringstream log;
  probe_.info.model_id = "other";
  auto r = Tune(*model_, probe_, nullptr, Options(), {}, log);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("model mismatch"));
  probe_.info.model_id = model_->identity();
  probe_.info.codecs = {CodecKind::kQ4};
  r = Tune(*model_, probe_, nullptr, Options(), {}, log);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("accepts none of the codecs f16,q8"));
  // A cloud shard from K = 3: only K = 3, 4 are candidates.
  probe_.info.codecs = {CodecKind::kQ8};
  probe_.info.first_layer = 3;
  r = Tune(*model_, probe_, nullptr, Options(), {}, log);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->predictions.size(), 2u);
  EXPECT_EQ(r->predictions[0].split, 3);
}

TEST(TunedConfigTest, RoundTripAndErrors) {
  TunedConfig c{.split = 3, .codec = CodecKind::kQ4, .cloud = "10.0.0.2:7000", .model = "/m.gguf"};
  c.predicted_per_token_ms = 12.5;
  const std::string path = std::filesystem::path(testing::TempDir()) / "tuned.json";
  ASSERT_TRUE(WriteTunedConfig(c, path).ok());
  auto read = ReadTunedConfig(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->split, 3);
  EXPECT_EQ(read->codec, CodecKind::kQ4);
  EXPECT_EQ(read->cloud, "10.0.0.2:7000");
  EXPECT_EQ(read->model, "/m.gguf");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  EXPECT_TRUE(ParseTunedConfig(R"({"split": 2, "codec": "f16", "cloud": "h:1"})").ok());
  EXPECT_THAT(ParseTunedConfig("split=2").status().message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(
      ParseTunedConfig(R"({"split": 0, "codec": "f16", "cloud": "h:1"})").status().message(),
      HasSubstr("\"split\" is 0"));
  EXPECT_THAT(ParseTunedConfig(R"({"split": 2, "codec": "q3", "cloud": "h:1"})").status().message(),
              HasSubstr("codec"));
  EXPECT_THAT(ParseTunedConfig(R"({"split": 2, "codec": "q8"})").status().message(),
              HasSubstr("cloud"));
  EXPECT_THAT(ParseTunedConfig(R"({"format": "tandem-tune/9", "split": 2, "codec": "q8",
                                   "cloud": "h:1"})")
                  .status()
                  .message(),
              HasSubstr("format"));
  EXPECT_EQ(ReadTunedConfig("/nonexistent/tuned.json").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TunerTest, TableAndChartShowTheRecommendation) {
  std::ostringstream log;
  Constraints c{.memory_budget_bytes = 600 << 10, .latency_target_seconds = 1};
  auto r = Tune(*model_, probe_, nullptr, Options(), c, log);
  ASSERT_TRUE(r.ok()) << r.status();
  std::ostringstream table;
  WriteTable(r->predictions, c, r->recommendation, table);
  EXPECT_THAT(table.str(), HasSubstr("TTFT ms"));
  EXPECT_THAT(table.str(), HasSubstr("\n*"));
  EXPECT_THAT(table.str(), HasSubstr("\nx"));  // K = 4 needs more than 600 KiB
  const std::string svg = LatencyMemoryChart(r->predictions, c, r->recommendation, "a <b> & c");
  EXPECT_THAT(svg, HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_THAT(svg, HasSubstr("a &lt;b&gt; &amp; c"));
  EXPECT_THAT(svg, HasSubstr("latency, q8"));
  EXPECT_THAT(svg, HasSubstr("memory budget"));
  EXPECT_THAT(svg, HasSubstr("latency target"));
  EXPECT_THAT(svg, HasSubstr("</svg>"));
}

TEST(SvgChartTest, RecommendationLabelStaysInsideTheChart) {
  // The label of a point at the right edge is drawn to its left (it used to run past the
  // chart's right edge); one at the left edge to its right.
  std::vector<Prediction> predictions;
  for (int32_t k = 1; k <= 21; ++k) {
    predictions.push_back({.split = k,
                           .codec = CodecKind::kQ8,
                           .per_token_seconds = 0.03,
                           .device_bytes = int64_t{k} << 20});
  }
  for (const int32_t k : {21, 1}) {
    Recommendation r{.choice = predictions[k - 1]};
    const std::string svg = LatencyMemoryChart(predictions, Constraints{}, r, "title");
    const std::string label = absl::StrFormat("K = %d, q8: 30.0 ms</text>", k);
    const size_t at = svg.find(label);
    ASSERT_NE(at, std::string::npos) << svg;
    const size_t tag = svg.rfind("<text x=\"", at);
    ASSERT_NE(tag, std::string::npos);
    const double x = std::stod(svg.substr(tag + 9));
    const std::string anchor = k == 21 ? "text-anchor=\"end\"" : "text-anchor=\"start\"";
    EXPECT_NE(svg.substr(tag, at - tag).find(anchor), std::string::npos)
        << svg.substr(tag, at - tag);
    // An end-anchored label ends at x; a start-anchored one of ~20 characters of 12 px
    // sans-serif (~7 px each) needs ~140 px after x. The chart is 760 px wide.
    if (k == 21) {
      EXPECT_LT(x, 760);
      EXPECT_GT(x, 150);
    } else {
      EXPECT_LT(x + 140, 760);
    }
  }
}

}  // namespace
}  // namespace tandem::tune
