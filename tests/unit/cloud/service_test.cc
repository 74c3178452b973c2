// The gRPC service over real TLS on 127.0.0.1:0, with a real client stub playing the edge
// (its hidden states computed here with the real model's layers [0, K) and the codec):
// exactness, every documented error code, TLS / mTLS / bearer-token failures, metrics,
// and that after each error another session on the same worker still works.
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cloud/cloud_server.h"
#include "cloud/proto_convert.h"
#include "cloud/split_inference_service.h"
#include "common/metrics/metrics_server.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/unit/cloud/fake_clock.h"
#include "tests/unit/cloud/hello_proto.h"
#include "tests/unit/cloud/test_certs.h"
#include "tests/unit/cloud/worker_test_util.h"

namespace tandem::cloud {
namespace {

using ::testing::HasSubstr;
constexpr auto kRpcTimeout = std::chrono::seconds(30);

// Certificates shared by all tests (made once), and the model for the edge half.
struct Fixtures {
  CertPaths certs;        // the worker's CA, server and client certificates
  CertPaths other_certs;  // an unrelated CA
  std::string expired_cert, expired_key;
  std::string tokens_file;
  std::unique_ptr<LlamaModel> model;
};
Fixtures* fixtures = nullptr;

class ServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixtures = new Fixtures;
    const std::string dir =
        (std::filesystem::path(testing::TempDir()) / absl::StrCat("cloud_tls_", getpid())).string();
    ASSERT_TRUE(MakeDevCerts(dir + "/ca1", &fixtures->certs).ok());
    ASSERT_TRUE(MakeDevCerts(dir + "/ca2", &fixtures->other_certs).ok());
    fixtures->expired_cert = dir + "/expired.pem";
    fixtures->expired_key = dir + "/expired.key";
    ASSERT_TRUE(
        IssueExpiredServerCert(fixtures->certs, fixtures->expired_cert, fixtures->expired_key)
            .ok());
    fixtures->tokens_file = dir + "/tokens";
    std::ofstream(fixtures->tokens_file) << "# devices\ndevice-one-secret\ndevice-two-secret\n";
    auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
    ASSERT_TRUE(model.ok()) << model.status();
    fixtures->model = *std::move(model);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(std::filesystem::path(fixtures->certs.dir).parent_path());
    delete fixtures;
    fixtures = nullptr;
  }

  const LlamaModel& model() { return *fixtures->model; }

  ServerConfig TlsConfig() {
    ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.tls.cert_file = fixtures->certs.server_cert;
    config.tls.key_file = fixtures->certs.server_key;
    config.shutdown_grace = absl::Seconds(5);
    return config;
  }

  // Starts a worker and its server; fails the test if that does not work.
  // Only tests that scrape serve /metrics over HTTP (stopping the exposer takes ~2 s).
  void StartServer(const ServerConfig& config, WorkerLimits limits = {},
                   bool serve_metrics = false) {
    WorkerConfig worker_config{.model_path = TANDEM_TEST_MODEL, .threads = 2, .limits = limits};
    auto worker = Worker::Create(worker_config, clock_);
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
    metrics_server_ = std::make_unique<MetricsServer>();
    if (serve_metrics) {
      ASSERT_TRUE(metrics_server_->Start("127.0.0.1:0").ok());
    }
    metrics_ = std::make_unique<CloudMetrics>(metrics_server_->registry());
    auto server = CloudServer::Start(config, *worker_, *metrics_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    server_.reset();  // graceful shutdown before the worker goes
    worker_.reset();
  }

  // A channel to the server; by default trusting the right CA, without a client cert.
  std::shared_ptr<grpc::Channel> Channel(ClientTlsOptions tls = {}) {
    if (tls.ca_file.empty() && !tls.insecure) tls.ca_file = fixtures->certs.ca;
    auto credentials = MakeChannelCredentials(tls);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()), *credentials);
  }
  std::unique_ptr<v1::SplitInference::Stub> Stub(ClientTlsOptions tls = {}) {
    return v1::SplitInference::NewStub(Channel(std::move(tls)));
  }

  static void SetDeadline(grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
  }

  // The Health RPC through `stub`, with the test deadline: its status.
  static grpc::Status CallHealth(v1::SplitInference::Stub& stub) {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::HealthResponse health;
    return stub.Health(&context, v1::HealthRequest(), &health);
  }

  // A Generate stream on its own stub and context (with the test deadline).
  struct GenerateCall {
    std::unique_ptr<v1::SplitInference::Stub> stub;
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::EdgeMessage, v1::CloudMessage>> stream;
  };
  std::unique_ptr<GenerateCall> Generate() {
    auto call = std::make_unique<GenerateCall>();
    call->stub = Stub();
    SetDeadline(call->context);
    call->stream = call->stub->Generate(&call->context);
    return call;
  }

  v1::EdgeMessage Hello(int32_t split, const std::string& id) {
    return GreedyHelloProto(model(), split, id);
  }

  static v1::EdgeMessage ChunkMessage(int32_t start, int32_t n, std::string payload, bool sample,
                                      v1::HiddenCodec codec = v1::HIDDEN_CODEC_F32) {
    v1::EdgeMessage m;
    v1::HiddenChunk* c = m.mutable_chunk();
    c->set_start_position(start);
    c->set_num_positions(n);
    c->set_codec(codec);
    c->set_payload_crc32c(Crc32c(payload));
    c->set_payload(std::move(payload));
    c->set_sample(sample);
    return m;
  }

  // Runs a greedy split generation over one stream (prompt in chunks of 4) and closes the
  // session. Returns the tokens, or the stream's error status.
  absl::StatusOr<std::vector<int32_t>> Generate(v1::SplitInference::Stub& stub, int32_t split,
                                                const std::string& id,
                                                const std::vector<int32_t>& prompt, int n,
                                                const std::string& bearer = "") {
    grpc::ClientContext context;
    SetDeadline(context);
    if (!bearer.empty()) context.AddMetadata("authorization", "Bearer " + bearer);
    auto stream = stub.Generate(&context);
    ASSIGN_OR_RETURN(EdgeHalf edge, EdgeHalf::Create(model(), split));
    v1::CloudMessage reply;
    auto finish = [&]() -> absl::Status {
      stream->WritesDone();
      grpc::Status s = stream->Finish();
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    };
    if (!stream->Write(Hello(split, id)) || !stream->Read(&reply)) return finish();
    if (!reply.has_ready() || reply.ready().cached_positions() != 0) {
      return absl::InternalError("expected Ready at position 0");
    }
    for (size_t start = 0; start < prompt.size(); start += 4) {
      const size_t len = std::min<size_t>(4, prompt.size() - start);
      ASSIGN_OR_RETURN(std::string payload,
                       edge.Payload(absl::MakeConstSpan(prompt).subspan(start, len)));
      if (!stream->Write(ChunkMessage(start, len, payload, start + len == prompt.size()))) {
        return finish();
      }
    }
    std::vector<int32_t> tokens;
    for (int i = 0; i < n; ++i) {
      if (!stream->Read(&reply)) return finish();
      if (!reply.has_token()) return absl::InternalError("expected a Token");
      tokens.push_back(reply.token().token_id());
      if (i + 1 == n) break;
      const int32_t pos = edge.position();
      ASSIGN_OR_RETURN(std::string payload, edge.Payload({tokens.back()}));
      if (!stream->Write(ChunkMessage(pos, 1, payload, true))) return finish();
    }
    v1::EdgeMessage close;
    close.mutable_close();
    stream->Write(close);
    RETURN_IF_ERROR(finish());
    return tokens;
  }

  // Sends a hello, then `message` (if any), and returns the stream's final status.
  grpc::Status OpenThenSend(const v1::EdgeMessage& hello,
                            const std::optional<v1::EdgeMessage>& message = std::nullopt) {
    auto call = Generate();
    auto& stream = call->stream;
    v1::CloudMessage reply;
    if (stream->Write(hello) && stream->Read(&reply) && message.has_value()) {
      stream->Write(*message);
      while (stream->Read(&reply)) {
      }
    }
    stream->WritesDone();
    return stream->Finish();
  }

  // The worker still serves a fresh session correctly.
  void ExpectStillServing() {
    static int n = 0;
    auto stub = Stub();
    auto tokens = Generate(*stub, 2, absl::StrCat("healthy-", n++), TestPrompt(), 4);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    auto reference = ReferenceGreedy(model(), TestPrompt(), 4);
    ASSERT_TRUE(reference.ok());
    EXPECT_EQ(*tokens, *reference);
  }

  std::string Scrape() {
    httplib::Client client("127.0.0.1", metrics_server_->port());
    client.set_read_timeout(10, 0);
    auto result = client.Get("/metrics");
    EXPECT_TRUE(result) << "metrics scrape failed";
    return result ? result->body : "";
  }

  // The value of one sample line `name{labels} value` (labels as printed), or -1.
  double Metric(const std::string& text, const std::string& series) {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::StartsWith(line, series + " ")) {
        double v = -1;
        EXPECT_TRUE(absl::SimpleAtod(line.substr(series.size() + 1), &v)) << line;
        return v;
      }
    }
    return -1;
  }

  FakeClock clock_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::unique_ptr<CloudMetrics> metrics_;
  std::unique_ptr<CloudServer> server_;
};

TEST_F(ServiceTest, SplitOutputEqualsTheUnsplitModelForEverySplit) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  auto stub = Stub();
  const std::vector<int32_t> prompt = TestPrompt(1);
  auto reference = ReferenceGreedy(model(), prompt, 16);
  ASSERT_TRUE(reference.ok());
  for (int32_t k = 1; k < model().hparams().n_layers; ++k) {
    auto tokens = Generate(*stub, k, absl::StrCat("exact-", k), prompt, 16);
    ASSERT_TRUE(tokens.ok()) << "K=" << k << ": " << tokens.status();
    EXPECT_EQ(*tokens, *reference) << "K=" << k;
  }
  EXPECT_EQ(worker_->Status().sessions, 0);  // Close freed them
}

TEST_F(ServiceTest, SixteenConcurrentSessionsMatchSequentialRuns) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  constexpr int kSessions = 16;
  auto split_of = [&](int i) { return 1 + i % (model().hparams().n_layers - 1); };
  auto stub = Stub();
  std::vector<std::vector<int32_t>> sequential(kSessions);
  for (int i = 0; i < kSessions; ++i) {
    auto tokens = Generate(*stub, split_of(i), absl::StrCat("seq-", i), TestPrompt(i), 12);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    sequential[i] = *tokens;
  }
  std::vector<absl::StatusOr<std::vector<int32_t>>> concurrent(kSessions);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      concurrent[i] = Generate(*stub, split_of(i), absl::StrCat("par-", i), TestPrompt(i), 12);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_TRUE(concurrent[i].ok()) << i << ": " << concurrent[i].status();
    EXPECT_EQ(*concurrent[i], sequential[i]) << "session " << i;
  }
}

TEST_F(ServiceTest, ReadyDescribesTheWorker) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig(), {.max_top_logprobs = 4}));
  auto call = Generate();
  auto& stream = call->stream;
  v1::EdgeMessage hello = Hello(2, "ready");
  hello.mutable_hello()->set_top_logprobs(10);  // over the limit: clamped, with a notice
  ASSERT_TRUE(stream->Write(hello));
  v1::CloudMessage reply;
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), grpc::StatusCode::OUT_OF_RANGE);
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(reply.has_ready());
  const v1::Ready& ready = reply.ready();
  EXPECT_EQ(ready.session_id(), "ready");
  EXPECT_EQ(ready.model_id(), model().identity());
  EXPECT_EQ(ready.protocol_version(), 1u);
  EXPECT_EQ(ready.max_chunk_positions(), 512);
  EXPECT_EQ(ready.max_chunk_bytes(), 512 * 64 * 4);
  EXPECT_EQ(ready.codecs_size(), 4);
  EXPECT_EQ(ready.max_top_logprobs(), 4);

  // A sampled chunk answers with a token with 4 alternatives.
  auto edge = EdgeHalf::Create(model(), 2);
  auto payload = edge->Payload(TestPrompt());
  ASSERT_TRUE(stream->Write(ChunkMessage(0, TestPrompt().size(), *payload, true)));
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(reply.has_token());
  EXPECT_EQ(reply.token().position(), static_cast<int32_t>(TestPrompt().size()) - 1);
  EXPECT_EQ(reply.token().top_logprobs_size(), 4);
  EXPECT_EQ(reply.token().top_logprobs(0).token_id(), reply.token().token_id());
  // And so does the next one (not 8: a reply message is reused on the stream).
  const int32_t next = reply.token().token_id();
  auto step = edge->Payload({&next, 1});
  ASSERT_TRUE(step.ok()) << step.status();
  ASSERT_TRUE(
      stream->Write(ChunkMessage(static_cast<int32_t>(TestPrompt().size()), 1, *step, true)));
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(reply.has_token());
  EXPECT_EQ(reply.token().position(), static_cast<int32_t>(TestPrompt().size()));
  EXPECT_EQ(reply.token().top_logprobs_size(), 4);
  EXPECT_EQ(reply.token().top_logprobs(0).token_id(), reply.token().token_id());
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServiceTest, MismatchedModelIsFailedPrecondition) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  v1::EdgeMessage hello = Hello(2, "wrong-model");
  hello.mutable_hello()->set_model_id("some-other-model@sha256:1234");
  grpc::Status status = OpenThenSend(hello);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("model mismatch"));
  ExpectStillServing();
}

// Bad chunks after a good Hello: each refused with its code, and the worker keeps serving.
TEST_F(ServiceTest, BadChunksAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  auto edge = EdgeHalf::Create(model(), 2);
  ASSERT_TRUE(edge.ok());
  auto two = edge->Payload({1, 2});
  edge->Rewind(0);
  auto one = edge->Payload({1});
  ASSERT_TRUE(two.ok() && one.ok());
  std::string nan_payload = *two;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan_payload.data() + 4 * 70, &nan, sizeof(nan));  // row 1, channel 6
  v1::EdgeMessage corrupt = ChunkMessage(0, 2, *two, true);
  (*corrupt.mutable_chunk()->mutable_payload())[5] ^= 0x10;  // bit flip after the checksum
  struct Case {
    std::string id;
    v1::EdgeMessage chunk;
    grpc::StatusCode code;
    std::string message;  // a part of the error message
  };
  const Case cases[] = {
      // Two positions' bytes declared as three.
      {"bad-size", ChunkMessage(0, 3, *two, true), grpc::StatusCode::INVALID_ARGUMENT, ""},
      {"nan", ChunkMessage(0, 2, nan_payload, true), grpc::StatusCode::INVALID_ARGUMENT, ""},
      {"corrupt", corrupt, grpc::StatusCode::DATA_LOSS, ""},
      {"gap", ChunkMessage(3, 1, *one, true), grpc::StatusCode::FAILED_PRECONDITION,
       "0 positions cached"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    grpc::Status status = OpenThenSend(Hello(2, c.id), c.chunk);
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
    ExpectStillServing();
  }
}

TEST_F(ServiceTest, ProtocolViolationsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  auto edge = EdgeHalf::Create(model(), 2);
  auto payload = edge->Payload({1});
  // A chunk before any Hello.
  {
    auto call = Generate();
    auto& stream = call->stream;
    stream->Write(ChunkMessage(0, 1, *payload, true));
    stream->WritesDone();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  // An unspecified codec.
  v1::EdgeMessage hello = Hello(2, "codec");
  hello.mutable_hello()->set_codec(v1::HIDDEN_CODEC_UNSPECIFIED);
  EXPECT_EQ(OpenThenSend(hello).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A second Hello on the same stream.
  EXPECT_EQ(OpenThenSend(Hello(2, "twice"), Hello(2, "twice")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // An empty EdgeMessage (a kind this worker does not know).
  EXPECT_EQ(OpenThenSend(Hello(2, "empty"), v1::EdgeMessage()).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  // K out of range.
  EXPECT_EQ(OpenThenSend(Hello(5, "k5")).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ExpectStillServing();
}

TEST_F(ServiceTest, UnknownSessionOnResumeIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  v1::EdgeMessage hello = Hello(2, "never-seen");
  hello.mutable_hello()->set_resume_position(7);
  hello.mutable_hello()->set_require_cached(true);
  grpc::Status status = OpenThenSend(hello);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  ExpectStillServing();
}

TEST_F(ServiceTest, OversizeMessagesAreResourceExhausted) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig(), {.max_chunk_positions = 8}));
  // Larger than the gRPC receive limit: refused before parsing.
  const int64_t limit = MaxReceiveMessageBytes(*worker_);
  grpc::Status huge =
      OpenThenSend(Hello(2, "huge"), ChunkMessage(0, 1, std::string(limit + 1, '\0'), true));
  EXPECT_EQ(huge.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << huge.error_message();
  ExpectStillServing();
  // Within the receive limit but over the chunk limits.
  auto edge = EdgeHalf::Create(model(), 2);
  auto nine = edge->Payload({1, 2, 3, 4, 5, 6, 7, 8, 9});
  grpc::Status too_many = OpenThenSend(Hello(2, "nine"), ChunkMessage(0, 9, *nine, true));
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  grpc::Status too_big = OpenThenSend(Hello(2, "big"), ChunkMessage(0, 8, *nine, true));
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ExpectStillServing();
}

TEST_F(ServiceTest, SessionLimitIsResourceExhausted) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig(), {.max_sessions = 1}));
  auto call = Generate();
  auto& holder = call->stream;
  v1::CloudMessage reply;
  ASSERT_TRUE(holder->Write(Hello(2, "holder")) && holder->Read(&reply));
  EXPECT_EQ(OpenThenSend(Hello(2, "second")).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::EdgeMessage close;
  close.mutable_close();
  holder->Write(close);
  holder->WritesDone();
  EXPECT_TRUE(holder->Finish().ok());
  ExpectStillServing();
}

TEST_F(ServiceTest, ADroppedStreamResumesWhereItWas) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  const std::vector<int32_t> prompt = TestPrompt(2);
  auto reference = ReferenceGreedy(model(), prompt, 3);
  ASSERT_TRUE(reference.ok());
  auto edge = EdgeHalf::Create(model(), 3);
  auto stub = Stub();
  v1::CloudMessage reply;
  {
    grpc::ClientContext context;
    SetDeadline(context);
    auto stream = stub->Generate(&context);
    ASSERT_TRUE(stream->Write(Hello(3, "resume")) && stream->Read(&reply));
    auto payload = edge->Payload(prompt);
    ASSERT_TRUE(stream->Write(ChunkMessage(0, prompt.size(), *payload, true)));
    ASSERT_TRUE(stream->Read(&reply));
    EXPECT_EQ(reply.token().token_id(), (*reference)[0]);
    context.TryCancel();  // the link drops
    stream->Finish();
  }
  // The worker notices the cancelled stream and detaches the session.
  for (int i = 0; i < 1000 && worker_->Status().attached_sessions > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(worker_->Status().attached_sessions, 0);
  EXPECT_EQ(worker_->Status().sessions, 1);

  grpc::ClientContext context;
  SetDeadline(context);
  auto stream = stub->Generate(&context);
  v1::EdgeMessage hello = Hello(3, "resume");
  hello.mutable_hello()->set_resume_position(prompt.size());
  hello.mutable_hello()->set_require_cached(true);
  ASSERT_TRUE(stream->Write(hello) && stream->Read(&reply));
  ASSERT_TRUE(reply.has_ready());
  EXPECT_EQ(reply.ready().cached_positions(), static_cast<int32_t>(prompt.size()));
  auto payload = edge->Payload({(*reference)[0]});
  ASSERT_TRUE(stream->Write(ChunkMessage(prompt.size(), 1, *payload, true)));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_EQ(reply.token().token_id(), (*reference)[1]);
  // Truncate back one position and redo it: same token.
  v1::EdgeMessage truncate;
  truncate.mutable_truncate()->set_position(prompt.size());
  ASSERT_TRUE(stream->Write(truncate));
  ASSERT_TRUE(stream->Write(ChunkMessage(prompt.size(), 1, *payload, true)));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_EQ(reply.token().token_id(), (*reference)[1]);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServiceTest, MutualTlsRequiresAClientCertificate) {
  ServerConfig config = TlsConfig();
  config.tls.client_ca_file = fixtures->certs.ca;
  ASSERT_NO_FATAL_FAILURE(StartServer(config));
  grpc::Status no_cert = CallHealth(*Stub());
  EXPECT_EQ(no_cert.error_code(), grpc::StatusCode::UNAVAILABLE) << no_cert.error_message();

  // A client certificate from another CA is refused too.
  ClientTlsOptions foreign{.cert_file = fixtures->other_certs.client_cert,
                           .key_file = fixtures->other_certs.client_key};
  EXPECT_EQ(CallHealth(*Stub(foreign)).error_code(), grpc::StatusCode::UNAVAILABLE);

  ClientTlsOptions with_cert{.cert_file = fixtures->certs.client_cert,
                             .key_file = fixtures->certs.client_key};
  auto stub = Stub(with_cert);
  auto tokens = Generate(*stub, 1, "mtls", TestPrompt(), 4);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*tokens, *ReferenceGreedy(model(), TestPrompt(), 4));
}

TEST_F(ServiceTest, ClientTrustingAnotherCaFails) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  grpc::Status status = CallHealth(*Stub(ClientTlsOptions{.ca_file = fixtures->other_certs.ca}));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ExpectStillServing();
}

TEST_F(ServiceTest, ExpiredServerCertificateFails) {
  // The certificate's only defect is its age.
  EXPECT_EQ(VerifyCertificate(fixtures->expired_cert, fixtures->certs.ca),
            X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(VerifyCertificate(fixtures->expired_cert, fixtures->certs.ca, /*check_time=*/false),
            X509_V_OK);
  EXPECT_EQ(VerifyCertificate(fixtures->certs.server_cert, fixtures->certs.ca), X509_V_OK);
  ServerConfig config = TlsConfig();
  config.tls.cert_file = fixtures->expired_cert;
  config.tls.key_file = fixtures->expired_key;
  ASSERT_NO_FATAL_FAILURE(StartServer(config));
  grpc::Status status = CallHealth(*Stub());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(ServiceTest, PlaintextClientCannotTalkToATlsWorker) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  grpc::Status status = CallHealth(*Stub(ClientTlsOptions{.insecure = true}));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(ServiceTest, BearerTokensAreRequiredWhenConfigured) {
  ServerConfig config = TlsConfig();
  config.auth_tokens_file = fixtures->tokens_file;
  ASSERT_NO_FATAL_FAILURE(StartServer(config));
  auto stub = Stub();
  for (const std::string& token :
       {std::string(), std::string("device-three-secret"), std::string("device-one-secre")}) {
    auto tokens = Generate(*stub, 2, "auth", TestPrompt(), 2, token);
    EXPECT_EQ(tokens.status().code(), absl::StatusCode::kUnauthenticated) << token;
    grpc::ClientContext context;
    SetDeadline(context);
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::HealthResponse health;
    EXPECT_EQ(stub->Health(&context, v1::HealthRequest(), &health).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(worker_->Status().sessions, 0);
  auto tokens = Generate(*stub, 2, "auth-ok", TestPrompt(), 4, "device-two-secret");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*tokens, *ReferenceGreedy(model(), TestPrompt(), 4));
}

TEST_F(ServiceTest, HealthProfileAndEcho) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  auto stub = Stub();
  {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::HealthResponse health;
    ASSERT_TRUE(stub->Health(&context, v1::HealthRequest(), &health).ok());
    EXPECT_EQ(health.status(), v1::SERVING_STATUS_SERVING);
    EXPECT_EQ(health.model_id(), model().identity());
    EXPECT_EQ(health.n_layers(), 5);
    EXPECT_EQ(health.hidden_dim(), 64);
    EXPECT_EQ(health.first_layer(), 1);
    EXPECT_EQ(health.max_sessions(), 64);
    EXPECT_EQ(health.max_context(), std::min(4096, model().hparams().context_length));
    EXPECT_EQ(health.active_sessions(), 0);
  }
  {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ProfileRequest request;
    request.set_context_positions(16);
    request.set_prompt_chunk_positions(8);
    v1::ProfileResponse profile;
    grpc::Status status = stub->Profile(&context, request, &profile);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(profile.layers_size(), 5);
    EXPECT_EQ(profile.repetitions(), 5);
    EXPECT_EQ(profile.threads(), 2);
    for (const v1::LayerProfile& layer : profile.layers()) {
      EXPECT_GT(layer.decode_seconds(), 0);
      EXPECT_GT(layer.prompt_chunk_seconds(), 0);
    }
    grpc::ClientContext context2;
    SetDeadline(context2);
    request.set_prompt_chunk_positions(100000);
    EXPECT_EQ(stub->Profile(&context2, request, &profile).error_code(),
              grpc::StatusCode::OUT_OF_RANGE);
  }
  {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::EchoRequest request;
    request.set_payload(std::string(1000, 'a'));
    request.set_response_bytes(65536);
    v1::EchoResponse echo;
    ASSERT_TRUE(stub->Echo(&context, request, &echo).ok());
    EXPECT_EQ(echo.payload().size(), 65536u);
    EXPECT_GE(echo.server_seconds(), 0);
    grpc::ClientContext context2;
    SetDeadline(context2);
    request.set_response_bytes((1 << 20) + 1);
    EXPECT_EQ(stub->Echo(&context2, request, &echo).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_F(ServiceTest, MetricsCountTokensBytesSessionsAndErrors) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig(), {}, /*serve_metrics=*/true));
  auto stub = Stub();
  auto tokens = Generate(*stub, 2, "metrics", TestPrompt(), 5);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  v1::EdgeMessage hello = Hello(2, "wrong");
  hello.mutable_hello()->set_model_id("other");
  ASSERT_EQ(OpenThenSend(hello).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  const std::string text = Scrape();
  EXPECT_EQ(Metric(text, "tandem_cloud_tokens_generated_total"), 5);
  // 9 prompt positions in chunks of 4, 4, 1, then 4 decode steps.
  EXPECT_EQ(Metric(text, "tandem_cloud_positions_processed_total"), 13);
  EXPECT_EQ(Metric(text, "tandem_cloud_step_seconds_count{kind=\"prompt\"}"), 2);
  EXPECT_EQ(Metric(text, "tandem_cloud_step_seconds_count{kind=\"decode\"}"), 5);
  EXPECT_EQ(Metric(text, "tandem_cloud_sessions_total{codec=\"f32\"}"), 1);
  EXPECT_EQ(Metric(text, "tandem_cloud_errors_total{code=\"FAILED_PRECONDITION\"}"), 1);
  EXPECT_EQ(Metric(text, "tandem_cloud_active_sessions"), 0);
  // At least the f32 payloads: 13 positions x 64 floats.
  EXPECT_GT(Metric(text, "tandem_cloud_received_bytes_total"), 13 * 64 * 4);
  EXPECT_GT(Metric(text, "tandem_cloud_sent_bytes_total"), 0);
}

TEST_F(ServiceTest, ShutdownEndsIdleStreamsAndRefusesNewOnes) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig()));
  auto call = Generate();
  auto& stream = call->stream;
  v1::CloudMessage reply;
  ASSERT_TRUE(stream->Write(Hello(2, "idle")) && stream->Read(&reply));
  server_->Shutdown();  // returns once the idle stream was cancelled
  EXPECT_FALSE(stream->Read(&reply));
  EXPECT_FALSE(stream->Finish().ok());
  EXPECT_TRUE(worker_->draining());
}

// What the edge's reconnect relies on (issue 4), over TLS: a dropped stream's session lives
// until the idle timeout; a resume never gets more positions than the worker has, whatever
// the edge claims; a chunk that skips ahead is refused and leaves the session as it was; a
// stream whose session was taken over is refused; after the timeout the session is gone.
TEST_F(ServiceTest, ResumesAreExactAndStaleOrOutOfOrderOnesAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsConfig(), {.idle_timeout = absl::Seconds(60)}));
  const std::vector<int32_t> prompt = TestPrompt(3);
  const int32_t n = static_cast<int32_t>(prompt.size());
  auto reference = ReferenceGreedy(model(), prompt, 3);
  ASSERT_TRUE(reference.ok());
  auto edge = EdgeHalf::Create(model(), 2);
  ASSERT_TRUE(edge.ok());
  auto stub = Stub();
  v1::CloudMessage reply;
  auto hello = [&](int32_t resume, bool require_cached) {
    v1::EdgeMessage m = Hello(2, "flaky");
    m.mutable_hello()->set_resume_position(resume);
    m.mutable_hello()->set_require_cached(require_cached);
    return m;
  };
  {  // The prompt, its token, then the link drops.
    grpc::ClientContext context;
    SetDeadline(context);
    auto stream = stub->Generate(&context);
    ASSERT_TRUE(stream->Write(hello(0, false)) && stream->Read(&reply));
    auto payload = edge->Payload(prompt);
    ASSERT_TRUE(stream->Write(ChunkMessage(0, n, *payload, true)) && stream->Read(&reply));
    EXPECT_EQ(reply.token().token_id(), (*reference)[0]);
    context.TryCancel();
    stream->Finish();
  }
  for (int i = 0; i < 1000 && worker_->Status().attached_sessions > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(worker_->Status().attached_sessions, 0);
  clock_.Advance(absl::Seconds(59));  // just inside the idle timeout

  // The edge claims five positions more than the worker has (e.g. it ran them during a
  // fallback period): the worker keeps what it has, and a chunk that skips to the claimed
  // position is refused.
  auto payload = edge->Payload({(*reference)[0]});  // position n
  {
    grpc::ClientContext context;
    SetDeadline(context);
    auto stream = stub->Generate(&context);
    ASSERT_TRUE(stream->Write(hello(n + 5, true)) && stream->Read(&reply));
    ASSERT_TRUE(reply.has_ready());
    EXPECT_EQ(reply.ready().cached_positions(), n);
    stream->Write(ChunkMessage(n + 5, 1, *payload, true));
    while (stream->Read(&reply)) {
    }
    grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  }

  // Two streams resume it; the older one is stale once the newer one took over.
  grpc::ClientContext older_context, newer_context;
  SetDeadline(older_context);
  SetDeadline(newer_context);
  auto older = stub->Generate(&older_context);
  ASSERT_TRUE(older->Write(hello(n, true)) && older->Read(&reply));
  EXPECT_EQ(reply.ready().cached_positions(), n);  // the refused chunk changed nothing
  auto newer = stub->Generate(&newer_context);
  ASSERT_TRUE(newer->Write(hello(n, true)) && newer->Read(&reply));
  EXPECT_EQ(reply.ready().cached_positions(), n);
  older->Write(ChunkMessage(n, 1, *payload, true));
  while (older->Read(&reply)) {
  }
  EXPECT_EQ(older->Finish().error_code(), grpc::StatusCode::ABORTED);
  // The newer one continues exactly where the session was: no replay, the reference token.
  ASSERT_TRUE(newer->Write(ChunkMessage(n, 1, *payload, true)) && newer->Read(&reply));
  ASSERT_TRUE(reply.has_token());
  EXPECT_EQ(reply.token().position(), n);
  EXPECT_EQ(reply.token().token_id(), (*reference)[1]);
  newer_context.TryCancel();
  newer->Finish();
  for (int i = 0; i < 1000 && worker_->Status().attached_sessions > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }

  // Past the idle timeout the session is gone: NOT_FOUND if the edge insists, else a fresh
  // session at 0 (the edge then replays the whole context).
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(OpenThenSend(hello(n + 1, true)).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext context;
  SetDeadline(context);
  auto fresh = stub->Generate(&context);
  ASSERT_TRUE(fresh->Write(hello(n + 1, false)) && fresh->Read(&reply));
  EXPECT_EQ(reply.ready().cached_positions(), 0);
  fresh->WritesDone();
  fresh->Finish();
}

}  // namespace
}  // namespace tandem::cloud
