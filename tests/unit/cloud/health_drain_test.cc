// The standard health service (grpc.health.v1) on the TLS port and on the plaintext health
// port, what it says while the worker drains, and the drain as an edge sees it: a stream
// mid-generation gets its next token and then UNAVAILABLE; a stream held open without
// generating is cancelled after the idle wait. Real gRPC over TLS on 127.0.0.1:0, the
// real model.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cloud/cloud_server.h"
#include "cloud/health_probe.h"
#include "common/metrics/metrics_server.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/unit/cloud/fake_clock.h"
#include "tests/unit/cloud/hello_proto.h"
#include "tests/unit/cloud/test_certs.h"
#include "tests/unit/cloud/worker_test_util.h"

namespace tandem::cloud {
namespace {

using ::testing::HasSubstr;
constexpr absl::Duration kTimeout = absl::Seconds(30);

class HealthDrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        (std::filesystem::path(testing::TempDir()) / absl::StrCat("cloud_health_", getpid()))
            .string());
    certs_ = new CertPaths;
    ASSERT_TRUE(MakeDevCerts(*dir_, certs_).ok());
    auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = model->release();
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete certs_;
    delete model_;
  }

  void Start(absl::Duration drain_idle_wait) {
    auto worker = Worker::Create({.model_path = TANDEM_TEST_MODEL, .threads = 1}, clock_);
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
    metrics_ = std::make_unique<CloudMetrics>(metrics_server_.registry());
    ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.health_listen_address = "127.0.0.1:0";
    config.tls.cert_file = certs_->server_cert;
    config.tls.key_file = certs_->server_key;
    config.shutdown_grace = absl::Seconds(60);
    config.drain_idle_wait = drain_idle_wait;
    auto server = CloudServer::Start(config, *worker_, *metrics_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->health_port(), 0);
  }

  void TearDown() override {
    server_.reset();
    worker_.reset();
  }

  std::shared_ptr<grpc::ChannelCredentials> Tls() {
    auto credentials = MakeChannelCredentials(ClientTlsOptions{.ca_file = certs_->ca});
    EXPECT_TRUE(credentials.ok());
    return *credentials;
  }
  absl::Status PlainHealth(const std::string& service) {
    return CheckGrpcHealth(absl::StrCat("127.0.0.1:", server_->health_port()), service,
                           grpc::InsecureChannelCredentials(), kTimeout);
  }
  absl::Status TlsHealth(const std::string& service) {
    return CheckGrpcHealth(absl::StrCat("localhost:", server_->port()), service, Tls(), kTimeout);
  }

  // Waits (bounded) until the worker waits for the next message on `n` streams: only
  // then is the drain's wait for idle streams what the test exercises.
  void AwaitIdleStreams(int n) {
    const absl::Time deadline = absl::Now() + kTimeout;
    while (server_->idle_streams() != n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_EQ(server_->idle_streams(), n);
  }

  // A stream with its Hello answered.
  struct OpenStream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::EdgeMessage, v1::CloudMessage>> stream;
  };
  std::unique_ptr<OpenStream> Open(v1::SplitInference::Stub& stub, int32_t split,
                                   const std::string& id) {
    auto open = std::make_unique<OpenStream>();
    open->context.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
    open->stream = stub.Generate(&open->context);
    const v1::EdgeMessage m = GreedyHelloProto(*model_, split, id);
    v1::CloudMessage reply;
    EXPECT_TRUE(open->stream->Write(m) && open->stream->Read(&reply) && reply.has_ready());
    return open;
  }

  static v1::EdgeMessage ChunkMessage(int32_t start, int32_t n, const std::string& payload) {
    v1::EdgeMessage m;
    v1::HiddenChunk* c = m.mutable_chunk();
    c->set_start_position(start);
    c->set_num_positions(n);
    c->set_codec(v1::HIDDEN_CODEC_F32);
    c->set_payload_crc32c(Crc32c(payload));
    c->set_payload(payload);
    c->set_sample(true);
    return m;
  }

  static std::string* dir_;
  static CertPaths* certs_;
  static LlamaModel* model_;
  FakeClock clock_;
  MetricsServer metrics_server_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<CloudMetrics> metrics_;
  std::unique_ptr<CloudServer> server_;
};

std::string* HealthDrainTest::dir_ = nullptr;
CertPaths* HealthDrainTest::certs_ = nullptr;
LlamaModel* HealthDrainTest::model_ = nullptr;

TEST_F(HealthDrainTest, ServesStandardHealthOnBothPorts) {
  ASSERT_NO_FATAL_FAILURE(Start(absl::Seconds(1)));
  for (const std::string service : {"", kSplitInferenceService, kLivenessService}) {
    EXPECT_TRUE(PlainHealth(service).ok()) << service << ": " << PlainHealth(service);
    EXPECT_TRUE(TlsHealth(service).ok()) << service << ": " << TlsHealth(service);
  }
  EXPECT_EQ(PlainHealth("no.such.Service").code(), absl::StatusCode::kNotFound);
  // The health port serves nothing else.
  auto plain_stub = v1::SplitInference::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server_->health_port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  v1::HealthResponse response;
  EXPECT_EQ(plain_stub->Health(&context, v1::HealthRequest(), &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(HealthDrainTest, DrainTurnsReadinessOffAndEndsAGenerationWithUnavailableAfterItsStep) {
  // Long idle wait: the drain waits for the stream below to send its next chunk.
  ASSERT_NO_FATAL_FAILURE(Start(absl::Seconds(60)));
  auto stub = v1::SplitInference::NewStub(
      grpc::CreateChannel(absl::StrCat("localhost:", server_->port()), Tls()));
  const std::vector<int32_t> prompt = TestPrompt();
  auto reference = ReferenceGreedy(*model_, prompt, 2);
  ASSERT_TRUE(reference.ok());
  auto edge = EdgeHalf::Create(*model_, 2);
  ASSERT_TRUE(edge.ok());

  // Mid-generation: the prompt sent, the first token back.
  std::unique_ptr<OpenStream> open = Open(*stub, 2, "draining");
  auto payload = edge->Payload(prompt);
  ASSERT_TRUE(payload.ok());
  v1::CloudMessage reply;
  ASSERT_TRUE(open->stream->Write(ChunkMessage(0, static_cast<int32_t>(prompt.size()), *payload)));
  ASSERT_TRUE(open->stream->Read(&reply) && reply.has_token());
  EXPECT_EQ(reply.token().token_id(), (*reference)[0]);

  ASSERT_NO_FATAL_FAILURE(AwaitIdleStreams(1));
  std::jthread shutdown([&] { server_->Shutdown(); });
  // Readiness goes NOT_SERVING on both ports; liveness stays SERVING.
  const absl::Time deadline = absl::Now() + kTimeout;
  while (PlainHealth("").ok() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_THAT(PlainHealth("").message(), HasSubstr("NOT_SERVING"));
  EXPECT_THAT(PlainHealth(kSplitInferenceService).message(), HasSubstr("NOT_SERVING"));
  EXPECT_THAT(TlsHealth("").message(), HasSubstr("NOT_SERVING"));
  EXPECT_TRUE(PlainHealth(kLivenessService).ok());

  // A new session is refused with UNAVAILABLE.
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
    auto stream = stub->Generate(&context);
    v1::EdgeMessage hello;
    hello.mutable_hello();
    stream->Write(hello);
    while (stream->Read(&reply)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }

  // The generation's next step is served, then its stream ends with UNAVAILABLE.
  payload = edge->Payload({(*reference)[0]});
  ASSERT_TRUE(payload.ok());
  ASSERT_TRUE(open->stream->Write(ChunkMessage(static_cast<int32_t>(prompt.size()), 1, *payload)));
  ASSERT_TRUE(open->stream->Read(&reply) && reply.has_token());
  EXPECT_EQ(reply.token().token_id(), (*reference)[1]);
  EXPECT_FALSE(open->stream->Read(&reply));
  const grpc::Status status = open->stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("resume elsewhere"));

  shutdown.join();
  // Everything is gone, the health port too.
  EXPECT_EQ(PlainHealth(kLivenessService).code(), absl::StatusCode::kUnavailable);
}

TEST_F(HealthDrainTest, StreamHeldOpenWithoutGeneratingIsCancelledAfterTheIdleWait) {
  ASSERT_NO_FATAL_FAILURE(Start(absl::Milliseconds(100)));
  auto stub = v1::SplitInference::NewStub(
      grpc::CreateChannel(absl::StrCat("localhost:", server_->port()), Tls()));
  std::unique_ptr<OpenStream> open = Open(*stub, 2, "idle");
  ASSERT_NO_FATAL_FAILURE(AwaitIdleStreams(1));
  server_->Shutdown();  // returns after the idle wait, not the 60 s grace period
  v1::CloudMessage reply;
  EXPECT_FALSE(open->stream->Read(&reply));
  const grpc::Status status = open->stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << status.error_message();
}

TEST(CheckGrpcHealthTest, NothingListeningIsUnavailable) {
  // Port 1 on loopback: nothing listens there in a test environment.
  const absl::Status status =
      CheckGrpcHealth("127.0.0.1:1", "", grpc::InsecureChannelCredentials(), absl::Seconds(10));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

}  // namespace
}  // namespace tandem::cloud
