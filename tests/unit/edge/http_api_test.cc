// The HTTP API with a real HTTP client, over the split generator and an in-process worker
// running the real model's layers [K, N).
#include "edge/http_api.h"

#include <string>
#include <vector>

#include "common/model/local_session.h"
#include "common/sampler/sampler.h"
#include "edge/fallback_model.h"
#include "edge/utf8_stream.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/unit/edge/sse_test_util.h"
#include "tests/util/in_process_cloud_link.h"
#include "tests/util/unsplit_reference.h"

namespace tandem::edge {
namespace {

using ::tandem::testing_util::InProcessCloudLink;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Json = nlohmann::json;
using testing_util::SseData;

constexpr int32_t kSplit = 2;
constexpr char kPrompt[] = "Once upon a time";

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}, {}); }

  void Start(PoolOptions pool_options, ApiOptions api_options) {
    api_.reset();
    pool_.reset();
    auto full = LlamaModel::Load(TANDEM_TEST_MODEL);
    ASSERT_TRUE(full.ok()) << full.status();
    full_ = std::move(*full);
    auto edge = EdgeModel::Load(TANDEM_TEST_MODEL, kSplit);
    ASSERT_TRUE(edge.ok()) << edge.status();
    edge_ = std::move(*edge);
    link_ = std::make_unique<InProcessCloudLink>();
    pool_options.threads_per_slot = 1;
    auto pool =
        GenerationPool::Create(*edge_, *link_, clock_, metrics_,
                               {.codec = CodecKind::kF32, .max_context = 128}, pool_options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    ServeApi(Workers(), api_options);
  }

  // A new API over the current pool, and a client of it.
  // Serves again from resilient slots: `fallback` (may be null) and `speculation`.
  void RestartWithResilience(const FallbackModel* fallback, const SpeculationOptions& speculation) {
    api_->Stop();
    api_.reset();
    pool_.reset();
    ResilienceOptions resilience;
    resilience.warn = [](std::string_view) {};
    resilience.speculation = speculation;
    auto pool = GenerationPool::Create(
        *edge_, {{.name = "worker", .link = link_.get()}}, fallback, clock_, metrics_,
        {.codec = CodecKind::kF32, .max_context = 128}, resilience, {.threads_per_slot = 1});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    ServeApi(Workers(), {});
  }

  void ServeApi(std::vector<CloudEndpoint> workers, const ApiOptions& api_options) {
    if (api_ != nullptr) api_->Stop();
    api_ = std::make_unique<HttpApi>(*edge_, *pool_, std::move(workers), clock_, metrics_,
                                     api_options);
    auto port = api_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client_->set_read_timeout(60, 0);
    client_->set_connection_timeout(10, 0);
  }

  void TearDown() override {
    if (api_ != nullptr) api_->Stop();
  }

  std::vector<CloudEndpoint> Workers() { return {{.name = "worker", .link = link_.get()}}; }

  // Greedy continuation text of the unsplit model, as the API should return it.
  std::string ReferenceText(const std::string& prompt, int32_t n) {
    std::string bytes;
    for (int32_t token :
         ::tandem::testing_util::UnsplitTokens(*full_, edge_->tokenizer(), prompt, n, 128)) {
      bytes += edge_->tokenizer().TokenToPiece(token);
    }
    return SanitizeUtf8(bytes);
  }

  // An OpenAI-style error response: `status`, and `code` as error.code.
  static void ExpectError(const httplib::Result& res, int status, const std::string& code) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, status) << res->body;
    EXPECT_EQ(Json::parse(res->body)["error"]["code"], code) << res->body;
  }

  httplib::Result Post(const std::string& path, const std::string& body) {
    return client_->Post(path.c_str(), body, "application/json");
  }

  std::string Metrics() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

  SystemClock clock_;
  prometheus::Registry registry_;
  EdgeMetrics metrics_{registry_, CodecKind::kF32};
  std::unique_ptr<LlamaModel> full_;
  std::unique_ptr<EdgeModel> edge_;
  std::unique_ptr<InProcessCloudLink> link_;
  std::unique_ptr<GenerationPool> pool_;
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpApiTest, CompletionMatchesTheUnsplitModel) {
  auto res =
      Post("/v1/completions",
           R"({"model": "x", "prompt": "Once upon a time", "max_tokens": 20, "temperature": 0})");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(res->get_header_value("Content-Type"), StartsWith("application/json"));
  Json body = Json::parse(res->body);
  EXPECT_THAT(body["id"].get<std::string>(), StartsWith("cmpl-"));
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_GT(body["created"].get<int64_t>(), 1600000000);
  EXPECT_EQ(body["model"], edge_->name());
  ASSERT_EQ(body["choices"].size(), 1u);
  EXPECT_EQ(body["choices"][0]["index"], 0);
  EXPECT_EQ(body["choices"][0]["text"], ReferenceText(kPrompt, 20));
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["prompt_tokens"], edge_->tokenizer().Encode(kPrompt, true).size());
  EXPECT_EQ(body["usage"]["completion_tokens"], 20);
  EXPECT_EQ(body["usage"]["total_tokens"], body["usage"]["prompt_tokens"].get<int>() + 20);
  EXPECT_THAT(
      Metrics(),
      HasSubstr(R"(tandem_edge_requests_total{endpoint="/v1/completions",status="200"} 1)"));
}

TEST_F(HttpApiTest, DefaultMaxTokensIsSixteen) {
  auto res = Post("/v1/completions", R"({"prompt": "Once upon a time", "temperature": 0})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  Json body = Json::parse(res->body);
  EXPECT_LE(body["usage"]["completion_tokens"].get<int>(), 16);
}

TEST_F(HttpApiTest, StreamingCompletionSendsTheSameText) {
  auto res = Post("/v1/completions",
                  R"({"prompt": "Once upon a time", "max_tokens": 20, "temperature": 0,
                      "stream": true, "stream_options": {"include_usage": true}})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(res->get_header_value("Content-Type"), StartsWith("text/event-stream"));
  std::vector<std::string> events = SseData(res->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::string id;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    Json chunk = Json::parse(events[i]);
    if (id.empty()) id = chunk["id"];
    EXPECT_EQ(chunk["id"], id);
    EXPECT_EQ(chunk["object"], "text_completion");
    if (chunk["choices"].empty()) {  // the usage chunk, last before [DONE]
      EXPECT_EQ(i + 2, events.size());
      EXPECT_EQ(chunk["usage"]["completion_tokens"], 20);
      continue;
    }
    text += chunk["choices"][0]["text"].get<std::string>();
    const bool last = i + 3 == events.size();
    EXPECT_EQ(chunk["choices"][0]["finish_reason"].is_null(), !last) << events[i];
    if (last) {
      EXPECT_EQ(chunk["choices"][0]["finish_reason"], "length");
    }
  }
  EXPECT_EQ(text, ReferenceText(kPrompt, 20));
}

TEST_F(HttpApiTest, ChatCompletionAndStreamAgree) {
  const std::string request =
      R"({"messages": [{"role": "system", "content": "Tell stories."},
                       {"role": "user", "content": "A story about a cat"}],
          "max_tokens": 24, "temperature": 0)";
  auto res = Post("/v1/chat/completions", request + "}");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  Json body = Json::parse(res->body);
  EXPECT_THAT(body["id"].get<std::string>(), StartsWith("chatcmpl-"));
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  const std::string content = body["choices"][0]["message"]["content"];
  EXPECT_FALSE(content.empty());
  // The prompt is the model's chat format (ChatML: stories260K has no template) with the
  // messages as plain text.
  const std::vector<ChatMessage> messages = {{"system", "Tell stories."},
                                             {"user", "A story about a cat"}};
  EXPECT_EQ(body["usage"]["prompt_tokens"],
            edge_->chat_template().Tokenize(messages, edge_->tokenizer()).size());
  const std::string finish = body["choices"][0]["finish_reason"];
  EXPECT_TRUE(finish == "stop" || finish == "length") << finish;

  auto streamed = Post("/v1/chat/completions", request + R"(, "stream": true})");
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200) << streamed->body;
  std::vector<std::string> events = SseData(streamed->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  Json first = Json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    Json chunk = Json::parse(events[i]);
    const Json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
  }
  Json last = Json::parse(events[events.size() - 2]);
  EXPECT_EQ(last["choices"][0]["finish_reason"], finish);
  EXPECT_EQ(text, content);
}

TEST_F(HttpApiTest, StopSequenceEndsTheTextBeforeIt) {
  const std::string full = ReferenceText(kPrompt, 30);
  ASSERT_GT(full.size(), 20u);
  const std::string stop = full.substr(10, 4);
  const std::string expected = full.substr(0, full.find(stop));
  Json request{{"prompt", kPrompt}, {"max_tokens", 30}, {"temperature", 0}, {"stop", {stop}}};
  for (bool stream : {false, true}) {
    request["stream"] = stream;
    auto res = Post("/v1/completions", request.dump());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    std::string text, finish;
    if (!stream) {
      Json body = Json::parse(res->body);
      text = body["choices"][0]["text"];
      finish = body["choices"][0]["finish_reason"];
    } else {
      std::vector<std::string> events = SseData(res->body);
      for (size_t i = 0; i + 1 < events.size(); ++i) {
        Json chunk = Json::parse(events[i]);
        text += chunk["choices"][0]["text"].get<std::string>();
        if (!chunk["choices"][0]["finish_reason"].is_null()) {
          finish = chunk["choices"][0]["finish_reason"];
        }
      }
    }
    EXPECT_EQ(text, expected) << "stream=" << stream;
    EXPECT_EQ(finish, "stop") << "stream=" << stream;
  }
}

TEST_F(HttpApiTest, BadRequestsGetOpenAiErrors) {
  struct Case {
    const char* path;
    const char* body;
    int status;
  } cases[] = {
      {"/v1/completions", "{not json", 400},
      {"/v1/completions", "[]", 400},
      {"/v1/completions", R"({"prompt": 3})", 400},
      {"/v1/completions", R"({"prompt": "a", "temperature": 9})", 400},
      {"/v1/completions", R"({"prompt": "a", "max_tokens": -5})", 400},
      {"/v1/chat/completions", R"({"messages": []})", 400},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": 1}]})", 400},
  };
  for (const Case& c : cases) {
    auto res = Post(c.path, c.body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, c.status) << c.body;
    Json body = Json::parse(res->body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << res->body;
    EXPECT_TRUE(body["error"]["message"].is_string()) << res->body;
    EXPECT_EQ(body["error"]["type"], "invalid_request_error") << res->body;
  }
  EXPECT_THAT(
      Metrics(),
      HasSubstr(R"(tandem_edge_requests_total{endpoint="/v1/completions",status="400"} 5)"));
}

TEST_F(HttpApiTest, PromptLongerThanTheContextIsContextLengthExceeded) {
  std::string prompt;
  for (int i = 0; i < 200; ++i) prompt += "Once upon a time ";
  Json request{{"prompt", prompt}};
  ExpectError(Post("/v1/completions", request.dump()), 400, "context_length_exceeded");
}

TEST_F(HttpApiTest, UnknownRouteAndOversizeBodyGetJsonErrors) {
  auto res = client_->Get("/v1/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_TRUE(Json::parse(res->body)["error"]["message"].is_string());

  Start({}, {.max_body_bytes = 4096});
  auto big = Post("/v1/completions", std::string(10000, ' '));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_TRUE(Json::parse(big->body)["error"]["message"].is_string());
}

TEST_F(HttpApiTest, CloudDownIs503AndHealthSaysSo) {
  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
  EXPECT_EQ(Json::parse(health->body)["status"], "ok");
  EXPECT_EQ(Json::parse(health->body)["split_layer"], kSplit);

  link_->SetOpenStatus(absl::UnavailableError("no route to worker"));
  auto res = Post("/v1/completions", R"({"prompt": "Hi"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_THAT(Json::parse(res->body)["error"]["message"].get<std::string>(), HasSubstr("no route"));
  health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);

  // A stream that fails after it started ends with an error event and no [DONE].
  link_->SetOpenStatus(absl::OkStatus());
  link_->FailAfterTokens(2, absl::UnavailableError("link cut"));
  auto streamed = Post("/v1/completions",
                       R"({"prompt": "Once", "max_tokens": 10, "temperature": 0, "stream": true})");
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->status, 200);
  std::vector<std::string> events = SseData(streamed->body);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back(), "[DONE]");
  EXPECT_THAT(events.back(), HasSubstr("link cut"));
}

TEST_F(HttpApiTest, HealthIsOkWhenAnyWorkerServes) {
  // Generations fail over to the second worker, so /health must not say 503.
  InProcessCloudLink second;
  ServeApi({{.name = "first", .link = link_.get()}, {.name = "second", .link = &second}}, {});
  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
  EXPECT_EQ(Json::parse(health->body)["worker"], "first");

  link_->SetOpenStatus(absl::UnavailableError("no route to worker"));
  health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
  EXPECT_EQ(Json::parse(health->body)["status"], "ok");
  EXPECT_EQ(Json::parse(health->body)["worker"], "second");

  second.SetOpenStatus(absl::UnavailableError("second is down too"));
  health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503) << health->body;
  EXPECT_THAT(Json::parse(health->body)["cloud"].get<std::string>(), HasSubstr("second is down"));
  EXPECT_FALSE(Json::parse(health->body).contains("worker"));
  api_->Stop();
}

TEST_F(HttpApiTest, HealthIsDegradedNotDownWhenAFallbackCanServe) {
  Start({}, {.fallback_available = true});
  link_->SetOpenStatus(absl::UnavailableError("no route to worker"));
  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
  Json body = Json::parse(health->body);
  EXPECT_EQ(body["status"], "degraded");
  EXPECT_THAT(body["cloud"].get<std::string>(), HasSubstr("no route"));
  EXPECT_EQ(body["fallback"], true);
}

TEST_F(HttpApiTest, ModesAreReportedWhenAskedAndTheFallbackFillsIn) {
  auto plain = Post("/v1/completions", R"({"prompt": "Once upon a time", "max_tokens": 4})");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(Json::parse(plain->body).contains("tandem"));
  auto cloud = Post("/v1/completions", R"({"prompt": "Once upon a time", "max_tokens": 4,
                                           "tandem": {"modes": true}})");
  ASSERT_TRUE(cloud);
  EXPECT_EQ(Json::parse(cloud->body)["tandem"],
            Json::parse(R"({"modes": [{"mode": "cloud", "tokens": 4}], "fallback_tokens": 0,
                            "draft_tokens": 0, "accepted_draft_tokens": 0})"));

  // Slots with the fallback model; the link fails after three tokens and stays down.
  auto fallback = FallbackModel::Load(TANDEM_TEST_MODEL, edge_->tokenizer());
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  ASSERT_NO_FATAL_FAILURE(RestartWithResilience(fallback->get(), {}));
  link_->FailAfterTokens(3, absl::UnavailableError("link cut"));
  auto res = Post("/v1/completions", R"({"prompt": "Once upon a time", "max_tokens": 20,
                                         "temperature": 0, "tandem": {"modes": true}})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  Json body = Json::parse(res->body);
  EXPECT_EQ(body["choices"][0]["text"], ReferenceText(kPrompt, 20));  // no token lost
  EXPECT_EQ(body["tandem"], Json::parse(R"({"modes": [{"mode": "cloud", "tokens": 3},
                                                      {"mode": "fallback", "tokens": 17}],
                                            "fallback_tokens": 17, "draft_tokens": 0,
                                            "accepted_draft_tokens": 0})"));
  // Streamed: the report rides on the chunk with the finish reason.
  auto streamed = Post("/v1/completions", R"({"prompt": "Once upon a time", "max_tokens": 20,
      "temperature": 0, "stream": true, "tandem": {"modes": true}})");
  ASSERT_TRUE(streamed);
  std::vector<std::string> events = SseData(streamed->body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    Json chunk = Json::parse(events[i]);
    text += chunk["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(chunk.contains("tandem"), i + 2 == events.size()) << events[i];
  }
  EXPECT_EQ(text, ReferenceText(kPrompt, 20));
  EXPECT_EQ(Json::parse(events[events.size() - 2])["tandem"]["fallback_tokens"], 20);
  api_->Stop();
  api_.reset();
  pool_.reset();
}

TEST_F(HttpApiTest, SpeculationIsReportedAndChangesNoToken) {
  auto draft = FallbackModel::Load(TANDEM_TEST_MODEL, edge_->tokenizer());
  ASSERT_TRUE(draft.ok()) << draft.status();
  ASSERT_NO_FATAL_FAILURE(RestartWithResilience(
      /*fallback=*/nullptr,
      {.enabled = true, .draft_model = draft->get(), .max_draft_tokens = 4, .adaptive = false}));
  auto res = Post("/v1/completions", R"({"prompt": "Once upon a time", "max_tokens": 20,
                                         "temperature": 0, "tandem": {"modes": true}})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  Json body = Json::parse(res->body);
  EXPECT_EQ(body["choices"][0]["text"], ReferenceText(kPrompt, 20));
  // The same model drafts: every draft is accepted, four per round up to the 20th token.
  EXPECT_GT(body["tandem"]["draft_tokens"].get<int>(), 10) << res->body;
  EXPECT_EQ(body["tandem"]["accepted_draft_tokens"], body["tandem"]["draft_tokens"]);
  api_->Stop();
  api_.reset();
  pool_.reset();
}

TEST_F(HttpApiTest, BusySlotsGive429) {
  Start({.slots = 1, .max_waiting = 0}, {.queue_timeout = absl::Milliseconds(10)});
  auto lease = pool_->Acquire(absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(lease.ok());
  ExpectError(Post("/v1/completions", R"({"prompt": "Hi"})"), 429, "rate_limit_exceeded");
}

TEST_F(HttpApiTest, ModelsListsTheModel) {
  auto res = client_->Get("/v1/models");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  Json body = Json::parse(res->body);
  EXPECT_EQ(body["object"], "list");
  ASSERT_EQ(body["data"].size(), 1u);
  EXPECT_EQ(body["data"][0]["id"], edge_->name());
  EXPECT_EQ(body["data"][0]["object"], "model");
}

}  // namespace
}  // namespace tandem::edge
