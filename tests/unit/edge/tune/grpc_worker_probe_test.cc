// The tuner's gRPC probe against a real worker (in process, TLS on 127.0.0.1 port 0, the
// real model): worker info, per-layer profile, echoes, bearer tokens, and the whole tuner
// over the real link.
#include "edge/tune/grpc_worker_probe.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cloud/cloud_server.h"
#include "common/metrics/metrics_server.h"
#include "edge/grpc_cloud_link.h"
#include "edge/tune/tuner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/cloud/fake_clock.h"
#include "tests/unit/cloud/test_certs.h"

namespace tandem::tune {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class GrpcWorkerProbeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        (std::filesystem::path(testing::TempDir()) / absl::StrCat("tune_tls_", getpid())).string());
    certs_ = new cloud::CertPaths;
    ASSERT_TRUE(cloud::MakeDevCerts(*dir_ + "/ca", certs_).ok());
    std::ofstream(*dir_ + "/tokens") << "tuner-secret\n";
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete certs_;
    delete dir_;
  }

  void StartWorker(const std::string& model, bool tokens = false) {
    auto worker = cloud::Worker::Create({.model_path = model, .threads = 1}, clock_);
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
    metrics_ = std::make_unique<cloud::CloudMetrics>(metrics_server_.registry());
    cloud::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.tls.cert_file = certs_->server_cert;
    config.tls.key_file = certs_->server_key;
    config.shutdown_grace = absl::Seconds(2);
    if (tokens) config.auth_tokens_file = *dir_ + "/tokens";
    auto server = cloud::CloudServer::Start(config, *worker_, *metrics_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // A link to the worker (kept by the fixture) and a probe on its channel.
  std::unique_ptr<GrpcWorkerProbe> Probe(std::string token = "", int port = -1) {
    edge::GrpcLinkOptions options{
        .target = absl::StrCat("127.0.0.1:", port < 0 ? server_->port() : port),
        .auth_token = std::move(token)};
    options.tls.ca_file = certs_->ca;
    options.tls.server_name = "localhost";
    auto link = edge::GrpcCloudLink::Create(options);
    EXPECT_TRUE(link.ok()) << link.status();
    if (!link.ok()) return nullptr;
    links_.push_back(*std::move(link));
    return std::make_unique<GrpcWorkerProbe>(*links_.back());
  }

  void TearDown() override {
    server_.reset();
    worker_.reset();
  }

  std::vector<std::unique_ptr<edge::GrpcCloudLink>> links_;

  static std::string* dir_;
  static cloud::CertPaths* certs_;
  cloud::FakeClock clock_;
  MetricsServer metrics_server_;
  std::unique_ptr<cloud::CloudMetrics> metrics_;
  std::unique_ptr<cloud::Worker> worker_;
  std::unique_ptr<cloud::CloudServer> server_;
};

std::string* GrpcWorkerProbeTest::dir_ = nullptr;
cloud::CertPaths* GrpcWorkerProbeTest::certs_ = nullptr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

TEST_F(GrpcWorkerProbeTest, InfoProfileAndEchoOverTls) {
  StartWorker(TANDEM_TEST_MODEL);
  auto probe = Probe();
  ASSERT_NE(probe, nullptr);
  auto info = probe->Info(kTimeout);
  ASSERT_TRUE(info.ok()) << info.status();
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(info->model_id, (*model)->identity());
  EXPECT_EQ(info->n_layers, 5);
  EXPECT_EQ(info->hidden_dim, 64);
  EXPECT_EQ(info->first_layer, 1);
  EXPECT_THAT(info->codecs, UnorderedElementsAre(CodecKind::kF32, CodecKind::kF16, CodecKind::kQ8,
                                                 CodecKind::kQ4));

  auto timings = probe->Profile(
      {.first_layer = 2, .context_positions = 8, .prompt_chunk_positions = 4, .repetitions = 2},
      kTimeout);
  ASSERT_TRUE(timings.ok()) << timings.status();
  EXPECT_EQ(timings->first_layer, 2);
  ASSERT_EQ(timings->layers.size(), 3u);
  EXPECT_GT(timings->layers[0].decode_seconds, 0);
  EXPECT_GT(timings->head_decode_seconds, 0);
  EXPECT_EQ(timings->prompt_chunk_positions, 4);

  auto echo = probe->Echo(4096, 100000, kTimeout);
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_GT(echo->round_trip_seconds, echo->server_seconds);
  // Beyond the worker's 1 MiB echo limit.
  EXPECT_FALSE(probe->Echo(0, 2 << 20, kTimeout).ok());
}

TEST_F(GrpcWorkerProbeTest, BearerTokenIsSentAndRequired) {
  StartWorker(TANDEM_TEST_MODEL, /*tokens=*/true);
  EXPECT_EQ(Probe()->Info(kTimeout).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Probe("tuner-secret")->Info(kTimeout).ok());
}

TEST_F(GrpcWorkerProbeTest, UnreachableWorkerIsUnavailable) {
  StartWorker(TANDEM_TEST_MODEL);
  const int port = server_->port();
  server_.reset();
  auto probe = Probe("", port);
  ASSERT_NE(probe, nullptr);
  const absl::Status st = probe->Info(absl::Seconds(2)).status();
  EXPECT_TRUE(st.code() == absl::StatusCode::kUnavailable ||
              st.code() == absl::StatusCode::kDeadlineExceeded)
      << st;
}

TEST_F(GrpcWorkerProbeTest, TunerOverTheRealLinkRecommendsASplit) {
  StartWorker(TANDEM_TEST_MODEL);
  auto probe = Probe();
  ASSERT_NE(probe, nullptr);
  auto model = LlamaModel::Load(TANDEM_TEST_MODEL, {.embedding = true, .head = false});
  ASSERT_TRUE(model.ok());
  TuneOptions options;
  options.threads = 1;
  options.prompt_tokens = 8;
  options.gen_tokens = 8;
  options.prompt_chunk_positions = 4;
  options.repetitions = 2;
  options.link.rounds = 3;
  options.link.sizes = {0, 4096, 65536};
  std::ostringstream log;
  options.calibration_steps = 3;
  // The calibration sessions run on the probe's own link: one client, as tandem-tune.
  auto result = Tune(**model, *probe, links_.back().get(), options, {.min_edge_layers = 2}, log);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->calibration_samples.size(), 2u);  // real sessions at K = 1 and K = 4
  EXPECT_EQ(result->calibration_samples[1].split, 4);
  EXPECT_GT(result->calibration.scale, 0);
  ASSERT_TRUE(result->measured_link.has_value());
  EXPECT_GT(result->inputs.link.rtt_seconds, 0);
  EXPECT_LT(result->inputs.link.rtt_seconds, 1);
  EXPECT_EQ(result->predictions.size(), 4u * 2);
  EXPECT_GE(result->recommendation.choice.split, 2);
}

}  // namespace
}  // namespace tandem::tune
