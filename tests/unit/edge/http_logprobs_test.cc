// Logprobs through the edge's OpenAI API, with a real HTTP client, on the embedded model:
// the values must be LogprobOf on the unsplit model's logits for the same tokens whichever
// side produced each token: the real worker (core + gRPC server with TLS, in process, the
// fault rig's), the fallback model (the worker killed), or both in one response (the
// in-process test worker's link cut after three tokens).
#include <string>
#include <vector>

#include "edge/fallback_model.h"
#include "edge/generation_pool.h"
#include "edge/http_api.h"
#include "edge/utf8_stream.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "prometheus/registry.h"
#include "tests/fault/fault_rig.h"
#include "tests/unit/edge/sse_test_util.h"
#include "tests/util/in_process_cloud_link.h"
#include "tests/util/unsplit_reference.h"

namespace tandem::edge {
namespace {

using ::testing::HasSubstr;
// Objects in the order the server wrote them: top_logprobs lists the most likely first.
using Json = nlohmann::ordered_json;
using ::tandem::testing_util::UnsplitLogprobs;
using ::tandem::testing_util::UnsplitStep;
using testing_util::SseData;

constexpr int32_t kContext = 128;
constexpr char kPrompt[] = "Once upon a time";

enum class Side {
  kWorker,    // every token from the real worker
  kFallback,  // the worker is down: every token from the fallback model
  kSwitch,    // three tokens from the cloud, then the fallback
};

std::string SideName(const ::testing::TestParamInfo<Side>& info) {
  switch (info.param) {
    case Side::kWorker:
      return "Worker";
    case Side::kFallback:
      return "Fallback";
    case Side::kSwitch:
      return "Switch";
  }
  return "?";
}

// How the API shows a token: its bytes if valid UTF-8, else "\\xNN" escapes.
std::string Shown(const std::string& bytes, const std::string& prefix) {
  if (SanitizeUtf8(bytes) == bytes) return bytes;
  std::string out = prefix;
  for (char c : bytes) {
    char hex[8];
    snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
    out += hex;
  }
  return out;
}

Json Bytes(const std::string& s) {
  Json out = Json::array();
  for (char c : s) out.push_back(static_cast<unsigned char>(c));
  return out;
}

class HttpLogprobsTest : public ::testing::TestWithParam<Side> {
 protected:
  void SetUp() override {
    if (GetParam() == Side::kSwitch) {
      auto full = LlamaModel::Load(TANDEM_TEST_MODEL);
      ASSERT_TRUE(full.ok()) << full.status();
      full_ = std::move(*full);
      auto edge = EdgeModel::Load(TANDEM_TEST_MODEL, /*split=*/2);
      ASSERT_TRUE(edge.ok()) << edge.status();
      edge_ = std::move(*edge);
      auto fallback = FallbackModel::Load(TANDEM_TEST_MODEL, edge_->tokenizer());
      ASSERT_TRUE(fallback.ok()) << fallback.status();
      fallback_ = std::move(*fallback);
      link_ = std::make_unique<::tandem::testing_util::InProcessCloudLink>();
      metrics_ = std::make_unique<EdgeMetrics>(registry_, CodecKind::kF32);
      Serve({{.name = "worker", .link = link_.get()}}, fallback_.get(), *metrics_);
      return;
    }
    auto rig = fault::FaultRig::Create({.direct = true});
    ASSERT_TRUE(rig.ok()) << rig.status();
    rig_ = std::move(*rig);
    if (GetParam() == Side::kFallback) rig_->KillWorker();
    Serve({{.name = "worker", .link = &rig_->link()}}, rig_->fallback(), rig_->edge_metrics());
  }

  void Serve(std::vector<CloudEndpoint> workers, const FallbackModel* fallback,
             EdgeMetrics& metrics) {
    api_.reset();
    pool_.reset();
    ResilienceOptions resilience;
    resilience.warn = [](std::string_view) {};
    auto pool = GenerationPool::Create(model(), workers, fallback, clock_, metrics,
                                       {.codec = CodecKind::kF32, .max_context = kContext},
                                       resilience, {.threads_per_slot = 1});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    api_ = std::make_unique<HttpApi>(model(), *pool_, workers, clock_, metrics, ApiOptions{});
    auto port = api_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client_->set_read_timeout(60, 0);
  }

  void TearDown() override {
    if (api_ != nullptr) api_->Stop();
    api_.reset();
    pool_.reset();
  }

  const EdgeModel& model() const { return rig_ != nullptr ? rig_->edge_model() : *edge_; }
  const LlamaModel& full() const { return rig_ != nullptr ? rig_->full_model() : *full_; }
  const Tokenizer& tokenizer() const { return model().tokenizer(); }
  std::string Piece(int32_t id) const { return tokenizer().TokenToPiece(id); }

  // The request, with Tandem's mode report asked for; 200 expected.
  Json Post(const std::string& path, Json request) {
    if (GetParam() == Side::kSwitch) {
      // Fresh slots (a slot that saw the link fail starts its next generation on the
      // fallback), and the link cut after three tokens.
      api_->Stop();
      Serve({{.name = "worker", .link = link_.get()}}, fallback_.get(), *metrics_);
      link_->FailAfterTokens(3, absl::UnavailableError("link cut"));
    }
    request["tandem"] = {{"modes", true}};
    auto res = client_->Post(path.c_str(), request.dump(), "application/json");
    if (!res) {
      ADD_FAILURE() << httplib::to_string(res.error());
      return Json();
    }
    EXPECT_EQ(res->status, 200) << res->body;
    if (!request.value("stream", false)) return Json::parse(res->body);
    Json chunks = Json::array();
    for (const std::string& data : SseData(res->body)) {
      if (data != "[DONE]") chunks.push_back(Json::parse(data));
    }
    return chunks;
  }

  // The fallback's share of a response's tokens, as this side should have it.
  void ExpectModes(const Json& report, int32_t tokens) {
    const int32_t fallback = report["fallback_tokens"];
    switch (GetParam()) {
      case Side::kWorker:
        EXPECT_EQ(fallback, 0) << report;
        break;
      case Side::kFallback:
        EXPECT_EQ(fallback, tokens) << report;
        break;
      case Side::kSwitch:
        EXPECT_EQ(fallback, tokens - 3) << report;
        break;
    }
  }

  std::vector<UnsplitStep> Reference(const std::vector<int32_t>& prompt, int32_t n, int32_t k) {
    return UnsplitLogprobs(full(), tokenizer(), prompt, n, kContext, k);
  }
  std::vector<int32_t> CompletionPrompt() const {
    return tokenizer().Encode(kPrompt, tokenizer().add_bos());
  }

  // A completion choice's logprobs against the reference: tokens, their logprobs, the top
  // alternatives (most likely first, then the sampled token if not among them), offsets.
  void ExpectCompletionLogprobs(const Json& lp, const std::string& text,
                                const std::vector<UnsplitStep>& ref, int32_t k) {
    ASSERT_TRUE(lp.is_object()) << lp;
    ASSERT_EQ(lp["tokens"].size(), ref.size()) << lp;
    ASSERT_EQ(lp["token_logprobs"].size(), ref.size());
    ASSERT_EQ(lp["top_logprobs"].size(), ref.size());
    ASSERT_EQ(lp["text_offset"].size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      const std::string token = Shown(Piece(ref[i].token), "bytes:");
      EXPECT_EQ(lp["tokens"][i], token) << i;
      EXPECT_FLOAT_EQ(lp["token_logprobs"][i].get<float>(), ref[i].logprob) << i;
      std::vector<std::pair<std::string, float>> expected;
      auto add = [&](const std::string& key, float value) {
        for (const auto& e : expected) {
          if (e.first == key) return;  // two ids with one spelling: the likelier one
        }
        expected.emplace_back(key, value);
      };
      for (const TokenLogprob& t : ref[i].top) add(Shown(Piece(t.token), "bytes:"), t.logprob);
      add(token, ref[i].logprob);
      const Json& top = lp["top_logprobs"][i];
      ASSERT_EQ(top.size(), expected.size()) << top;
      EXPECT_LE(top.size(), static_cast<size_t>(k + 1));
      size_t j = 0;
      for (const auto& [key, value] : top.items()) {
        EXPECT_EQ(key, expected[j].first) << i << " rank " << j;
        EXPECT_FLOAT_EQ(value.get<float>(), expected[j].second) << i << " rank " << j;
        if (j > 0 && j < ref[i].top.size()) {
          EXPECT_LE(value.get<float>(), expected[j - 1].second) << "sorted";
        }
        ++j;
      }
      // Offsets in characters of the choice's text (ASCII here: bytes).
      const int32_t offset = lp["text_offset"][i];
      EXPECT_EQ(text.compare(offset, token.size(), token), 0) << i << ": " << token;
    }
    if (!ref.empty()) {
      EXPECT_EQ(lp["text_offset"][0], 0);
    }
  }

  // A chat choice's logprobs.content against the reference.
  void ExpectChatLogprobs(const Json& lp, const std::vector<UnsplitStep>& ref, int32_t k) {
    ASSERT_TRUE(lp.is_object()) << lp;
    EXPECT_TRUE(lp["refusal"].is_null());
    const Json& content = lp["content"];
    ASSERT_EQ(content.size(), ref.size()) << lp;
    for (size_t i = 0; i < ref.size(); ++i) {
      const Json& e = content[i];
      const std::string piece = Piece(ref[i].token);
      EXPECT_EQ(e["token"], Shown(piece, "")) << i;
      EXPECT_FLOAT_EQ(e["logprob"].get<float>(), ref[i].logprob) << i;
      EXPECT_EQ(e["bytes"], Bytes(piece)) << i;
      ASSERT_EQ(e["top_logprobs"].size(), static_cast<size_t>(k)) << e;
      ASSERT_EQ(ref[i].top.size(), static_cast<size_t>(k));
      for (int32_t j = 0; j < k; ++j) {
        const Json& alt = e["top_logprobs"][j];
        const std::string alt_piece = Piece(ref[i].top[j].token);
        EXPECT_EQ(alt["token"], Shown(alt_piece, "")) << i << " rank " << j;
        EXPECT_EQ(alt["bytes"], Bytes(alt_piece)) << i << " rank " << j;
        EXPECT_FLOAT_EQ(alt["logprob"].get<float>(), ref[i].top[j].logprob) << i << " rank " << j;
        if (j > 0) {
          EXPECT_LE(alt["logprob"], e["top_logprobs"][j - 1]["logprob"]) << "sorted";
        }
      }
      // Greedy: the token is the most likely one.
      if (k > 0) {
        EXPECT_EQ(e["top_logprobs"][0]["token"], e["token"]) << i;
      }
    }
  }

  SystemClock clock_;
  std::unique_ptr<fault::FaultRig> rig_;  // kWorker, kFallback
  // kSwitch: the in-process test worker, its link cut after three tokens.
  std::unique_ptr<LlamaModel> full_;
  std::unique_ptr<EdgeModel> edge_;
  std::unique_ptr<FallbackModel> fallback_;
  std::unique_ptr<::tandem::testing_util::InProcessCloudLink> link_;
  prometheus::Registry registry_;
  std::unique_ptr<EdgeMetrics> metrics_;

  std::unique_ptr<GenerationPool> pool_;
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_P(HttpLogprobsTest, CompletionLogprobsAreTheUnsplitModels) {
  constexpr int32_t kTokens = 12;
  for (int32_t k : {0, 1, 5}) {
    SCOPED_TRACE(k);
    const std::vector<UnsplitStep> ref = Reference(CompletionPrompt(), kTokens, k);
    ASSERT_EQ(ref.size(), static_cast<size_t>(kTokens));
    const Json body =
        Post("/v1/completions",
             {{"prompt", kPrompt}, {"max_tokens", kTokens}, {"temperature", 0}, {"logprobs", k}});
    const Json& choice = body["choices"][0];
    const std::string text = choice["text"];
    ExpectCompletionLogprobs(choice["logprobs"], text, ref, k);
    ExpectModes(body["tandem"], kTokens);
  }
}

TEST_P(HttpLogprobsTest, StreamedCompletionCarriesEachChunksTokens) {
  constexpr int32_t kTokens = 12;
  constexpr int32_t k = 3;
  const std::vector<UnsplitStep> ref = Reference(CompletionPrompt(), kTokens, k);
  Json request{{"prompt", kPrompt}, {"max_tokens", kTokens}, {"temperature", 0}, {"logprobs", k}};
  const Json whole = Post("/v1/completions", request);
  request["stream"] = true;
  const Json chunks = Post("/v1/completions", request);
  ASSERT_GE(chunks.size(), 2u);
  std::string text;
  Json merged{{"tokens", Json::array()},
              {"token_logprobs", Json::array()},
              {"top_logprobs", Json::array()},
              {"text_offset", Json::array()}};
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Json& choice = chunks[i]["choices"][0];
    const std::string chunk_text = choice["text"];
    if (i + 1 == chunks.size()) {  // the finish chunk: no tokens
      EXPECT_EQ(choice["finish_reason"], "length");
      EXPECT_TRUE(choice["logprobs"].is_null()) << chunks[i];
      ExpectModes(chunks[i]["tandem"], kTokens);
      continue;
    }
    ASSERT_TRUE(choice["logprobs"].is_object()) << chunks[i];
    std::string joined;  // the chunk's tokens make its text
    for (const Json& t : choice["logprobs"]["tokens"]) joined += t.get<std::string>();
    EXPECT_EQ(joined, chunk_text);
    EXPECT_EQ(choice["logprobs"]["text_offset"][0], text.size());  // over the whole text
    for (auto& [key, values] : merged.items()) {
      for (const Json& v : choice["logprobs"][key]) values.push_back(v);
    }
    text += chunk_text;
  }
  EXPECT_EQ(text, whole["choices"][0]["text"]);
  EXPECT_EQ(merged, whole["choices"][0]["logprobs"]);
  ExpectCompletionLogprobs(merged, text, ref, k);
}

TEST_P(HttpLogprobsTest, ChatLogprobsAreTheUnsplitModels) {
  constexpr int32_t kTokens = 10;
  const std::vector<ChatMessage> messages = {{"user", "Tell me a story about a cat"}};
  const std::vector<int32_t> prompt = model().chat_template().Tokenize(messages, tokenizer());
  for (int32_t k : {0, 4, 20}) {
    SCOPED_TRACE(k);
    const std::vector<UnsplitStep> ref = Reference(prompt, kTokens, k);
    Json request{{"messages", {{{"role", "user"}, {"content", "Tell me a story about a cat"}}}},
                 {"max_tokens", kTokens},
                 {"temperature", 0},
                 {"logprobs", true},
                 {"top_logprobs", k}};
    const Json body = Post("/v1/chat/completions", request);
    const Json& choice = body["choices"][0];
    ExpectChatLogprobs(choice["logprobs"], ref, k);
    const int32_t tokens = body["usage"]["completion_tokens"];
    EXPECT_EQ(static_cast<size_t>(tokens), ref.size());
    ExpectModes(body["tandem"], tokens);

    request["stream"] = true;
    const Json chunks = Post("/v1/chat/completions", request);
    Json content = Json::array();
    std::string text;
    for (const Json& chunk : chunks) {
      const Json& c = chunk["choices"][0];
      if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
      if (c["logprobs"].is_null()) continue;
      EXPECT_TRUE(c["finish_reason"].is_null()) << chunk;
      for (const Json& e : c["logprobs"]["content"]) content.push_back(e);
    }
    EXPECT_EQ(text, choice["message"]["content"]);
    EXPECT_EQ(content, choice["logprobs"]["content"]);
  }
}

TEST_P(HttpLogprobsTest, NoLogprobsUnlessAsked) {
  const Json completion =
      Post("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 4}, {"temperature", 0}});
  EXPECT_TRUE(completion["choices"][0]["logprobs"].is_null()) << completion;
  const Json chat =
      Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                    {"max_tokens", 4},
                                    {"logprobs", false},
                                    {"top_logprobs", 0}});
  EXPECT_TRUE(chat["choices"][0]["logprobs"].is_null()) << chat;
}

TEST_P(HttpLogprobsTest, StopSequenceCutsTheTokensAfterIt) {
  const std::vector<UnsplitStep> ref = Reference(CompletionPrompt(), 30, 2);
  std::string full;
  for (const UnsplitStep& s : ref) full += Piece(s.token);
  ASSERT_GT(full.size(), 20u);
  const std::string stop = full.substr(10, 4);
  const std::string expected = full.substr(0, full.find(stop));
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream);
    const Json res = Post("/v1/completions", {{"prompt", kPrompt},
                                              {"max_tokens", 30},
                                              {"temperature", 0},
                                              {"stop", {stop}},
                                              {"logprobs", 2},
                                              {"stream", stream}});
    std::string text;
    std::vector<std::string> tokens;
    for (const Json& r : stream ? res : Json::array({res})) {
      const Json& c = r["choices"][0];
      text += c["text"].get<std::string>();
      if (c["logprobs"].is_null()) continue;
      for (const Json& t : c["logprobs"]["tokens"]) tokens.push_back(t);
    }
    EXPECT_EQ(text, expected);
    // The tokens of the text, the last one maybe reaching into the stop sequence; none
    // past it.
    std::string joined;
    for (const std::string& t : tokens) joined += t;
    EXPECT_EQ(joined.substr(0, text.size()), text);
    ASSERT_FALSE(tokens.empty());
    EXPECT_LT(joined.size() - tokens.back().size(), text.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Sides, HttpLogprobsTest,
                         ::testing::Values(Side::kWorker, Side::kFallback, Side::kSwitch),
                         SideName);

// Values out of OpenAI's ranges: a 400 with an OpenAI error object naming the parameter.
TEST(HttpLogprobsRequestTest, BadValuesAreRejected) {
  auto full = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(full.ok()) << full.status();
  auto edge = EdgeModel::Load(TANDEM_TEST_MODEL, 2);
  ASSERT_TRUE(edge.ok()) << edge.status();
  ::tandem::testing_util::InProcessCloudLink link;
  SystemClock clock;
  prometheus::Registry registry;
  EdgeMetrics metrics(registry, CodecKind::kF32);
  auto pool = GenerationPool::Create(**edge, link, clock, metrics,
                                     {.codec = CodecKind::kF32, .max_context = kContext},
                                     {.threads_per_slot = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  HttpApi api(**edge, **pool, {{.name = "worker", .link = &link}}, clock, metrics, {});
  auto port = api.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  httplib::Client client("127.0.0.1", *port);
  const std::string chat = R"({"messages": [{"role": "user", "content": "hi"}], )";
  struct Case {
    const char* path;
    std::string body;
    const char* message;
  } cases[] = {
      {"/v1/completions", R"({"prompt": "a", "logprobs": 6})",
       "'logprobs' must be an integer in [0, 5]"},
      {"/v1/completions", R"({"prompt": "a", "logprobs": -1})", "'logprobs' must be an integer"},
      {"/v1/completions", R"({"prompt": "a", "logprobs": true})", "'logprobs' must be an integer"},
      {"/v1/completions", R"({"prompt": "a", "logprobs": "2"})", "'logprobs' must be an integer"},
      {"/v1/chat/completions", chat + R"("logprobs": true, "top_logprobs": 21})",
       "'top_logprobs' must be an integer in [0, 20]"},
      {"/v1/chat/completions", chat + R"("logprobs": true, "top_logprobs": -1})",
       "'top_logprobs' must be an integer"},
      {"/v1/chat/completions", chat + R"("logprobs": true, "top_logprobs": 2.5})",
       "'top_logprobs' must be an integer"},
      {"/v1/chat/completions", chat + R"("top_logprobs": 3})",
       "'top_logprobs' requires 'logprobs' to be true"},
      {"/v1/chat/completions", chat + R"("logprobs": 1})", "'logprobs' must be a boolean"},
  };
  for (const Case& c : cases) {
    auto res = client.Post(c.path, c.body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << c.body;
    const Json body = Json::parse(res->body);
    EXPECT_EQ(body["error"]["type"], "invalid_request_error") << res->body;
    EXPECT_THAT(body["error"]["message"].get<std::string>(), HasSubstr(c.message)) << c.body;
  }
  EXPECT_EQ(link.opens(), 0);  // refused before any generation
  api.Stop();
}

// A worker that sends fewer alternatives than a request asks for cannot serve it: the
// fallback does (never a response with fewer entries than asked).
TEST(HttpLogprobsRequestTest, AWorkerWithALowerLimitLeavesItToTheFallback) {
  auto full = LlamaModel::Load(TANDEM_TEST_MODEL);
  ASSERT_TRUE(full.ok()) << full.status();
  auto edge = EdgeModel::Load(TANDEM_TEST_MODEL, 2);
  ASSERT_TRUE(edge.ok()) << edge.status();
  auto fallback = FallbackModel::Load(TANDEM_TEST_MODEL, (*edge)->tokenizer());
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  ::tandem::testing_util::InProcessCloudOptions options;
  options.limits.max_top_logprobs = 2;
  ::tandem::testing_util::InProcessCloudLink link(options);
  SystemClock clock;
  prometheus::Registry registry;
  EdgeMetrics metrics(registry, CodecKind::kF32);
  ResilienceOptions resilience;
  resilience.warn = [](std::string_view) {};
  const std::vector<CloudEndpoint> workers = {{.name = "worker", .link = &link}};
  auto pool = GenerationPool::Create(**edge, workers, fallback->get(), clock, metrics,
                                     {.codec = CodecKind::kF32, .max_context = kContext},
                                     resilience, {.threads_per_slot = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  HttpApi api(**edge, **pool, workers, clock, metrics, {});
  auto port = api.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  httplib::Client client("127.0.0.1", *port);
  auto res = client.Post("/v1/completions",
                         R"({"prompt": "Once upon a time", "max_tokens": 6, "temperature": 0,
                             "logprobs": 5, "tandem": {"modes": true}})",
                         "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const Json body = Json::parse(res->body);
  EXPECT_EQ(body["tandem"]["fallback_tokens"], 6) << res->body;
  for (const Json& top : body["choices"][0]["logprobs"]["top_logprobs"]) {
    EXPECT_GE(top.size(), 5u) << top;
  }
  api.Stop();
}

}  // namespace
}  // namespace tandem::edge
