#include "edge/openai_request.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem::edge {
namespace {

using ::testing::HasSubstr;

TEST(ParseCompletionRequestTest, MinimalRequestGetsOpenAiDefaults) {
  auto r = ParseCompletionRequest(R"({"prompt": "Once upon a time"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->prompt, "Once upon a time");
  EXPECT_FALSE(r->options.max_tokens.has_value());
  EXPECT_EQ(r->options.temperature, 1.0f);
  EXPECT_EQ(r->options.top_p, 1.0f);
  EXPECT_FALSE(r->options.seed.has_value());
  EXPECT_FALSE(r->options.stream);
  EXPECT_TRUE(r->options.stop.empty());
}

TEST(ParseCompletionRequestTest, AllSupportedFields) {
  auto r = ParseCompletionRequest(R"({
      "model": "stories", "prompt": ["Hi"], "max_tokens": 16.0, "temperature": 0,
      "top_p": 0.5, "seed": -3, "stop": ["a", "b"], "stream": true,
      "stream_options": {"include_usage": true}, "n": 1, "logprobs": null,
      "presence_penalty": 0, "user": "ignored", "some_future_field": [1, 2]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->prompt, "Hi");
  EXPECT_EQ(r->options.model, "stories");
  EXPECT_EQ(*r->options.max_tokens, 16);
  EXPECT_EQ(r->options.temperature, 0.0f);
  EXPECT_EQ(r->options.top_p, 0.5f);
  EXPECT_EQ(*r->options.seed, static_cast<uint64_t>(-3));
  EXPECT_EQ(r->options.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r->options.stream);
  EXPECT_TRUE(r->options.include_usage);
}

TEST(ParseCompletionRequestTest, RejectsMalformedBodies) {
  for (const char* body : {"", "{", "[1]", "\"text\"", "{\"prompt\": \"a\",}", "{'prompt': 1}",
                           "{\"prompt\": \"\xff\"}"}) {
    auto r = ParseCompletionRequest(body);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
  }
}

TEST(ParseCompletionRequestTest, RejectsDeepNesting) {
  std::string body =
      R"({"prompt": "a", "x": )" + std::string(10000, '[') + std::string(10000, ']') + "}";
  auto r = ParseCompletionRequest(body);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("nested"));
}

TEST(ParseCompletionRequestTest, RejectsWrongTypesAndRangesNamingTheField) {
  struct Case {
    const char* body;
    const char* field;
  } cases[] = {
      {R"({})", "prompt"},
      {R"({"prompt": 5})", "prompt"},
      {R"({"prompt": [1, 2, 3]})", "prompt"},
      {R"({"prompt": ["a", "b"]})", "prompt"},
      {R"({"prompt": "a", "max_tokens": "10"})", "max_tokens"},
      {R"({"prompt": "a", "max_tokens": -1})", "max_tokens"},
      {R"({"prompt": "a", "max_tokens": 1.5})", "max_tokens"},
      {R"({"prompt": "a", "max_tokens": 1e300})", "max_tokens"},
      {R"({"prompt": "a", "temperature": 2.5})", "temperature"},
      {R"({"prompt": "a", "temperature": "hot"})", "temperature"},
      {R"({"prompt": "a", "top_p": 0})", "top_p"},
      {R"({"prompt": "a", "top_p": 1.1})", "top_p"},
      {R"({"prompt": "a", "seed": 1.5})", "seed"},
      {R"({"prompt": "a", "stop": 3})", "stop"},
      {R"({"prompt": "a", "stop": ["a", "b", "c", "d", "e"]})", "stop"},
      {R"({"prompt": "a", "stream": "yes"})", "stream"},
      {R"({"prompt": "a", "n": 2})", "n"},
      {R"({"prompt": "a", "logprobs": 6})", "logprobs"},
      {R"({"prompt": "a", "logprobs": -1})", "logprobs"},
      {R"({"prompt": "a", "logprobs": true})", "logprobs"},
      {R"({"prompt": "a", "logprobs": 2.5})", "logprobs"},
      {R"({"prompt": "a", "echo": true})", "echo"},
      {R"({"prompt": "a", "frequency_penalty": 0.5})", "frequency_penalty"},
      {R"({"prompt": "a", "logit_bias": {"50": 1}})", "logit_bias"},
  };
  for (const Case& c : cases) {
    auto r = ParseCompletionRequest(c.body);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_THAT(r.status().message(), HasSubstr(std::string("'") + c.field + "'")) << c.body;
  }
}

TEST(ParseChatRequestTest, MessagesWithStringAndPartContent) {
  auto r = ParseChatRequest(R"({"messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]},
      {"role": "assistant", "content": null}],
      "max_completion_tokens": 7, "max_tokens": 99})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->messages.size(), 3u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[1].content, "Hello");
  EXPECT_EQ(r->messages[2].content, "");
  EXPECT_EQ(*r->options.max_tokens, 7);
}

TEST(ParseChatRequestTest, RejectsBadMessages) {
  for (const char* body : {
           R"({})",
           R"({"messages": []})",
           R"({"messages": "hi"})",
           R"({"messages": [{"content": "hi"}]})",
           R"({"messages": [{"role": "wizard", "content": "hi"}]})",
           R"({"messages": [{"role": "user"}]})",
           R"({"messages": [{"role": "user", "content": 3}]})",
           R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
           R"({"messages": [{"role": "user", "content": "hi"}], "tools": [{}]})",
       }) {
    auto r = ParseChatRequest(body);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
  }
}

TEST(ParseCompletionRequestTest, LogprobsIsTheNumberOfAlternatives) {
  auto none = ParseCompletionRequest(R"({"prompt": "x", "logprobs": null})");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->options.top_logprobs.has_value());
  for (int n : {0, 3, 5}) {
    auto r = ParseCompletionRequest(R"({"prompt": "x", "logprobs": )" + std::to_string(n) + "}");
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->options.top_logprobs.has_value());
    EXPECT_EQ(*r->options.top_logprobs, n);
  }
  EXPECT_THAT(ParseCompletionRequest(R"({"prompt": "x", "logprobs": 6})").status().message(),
              HasSubstr("'logprobs' must be an integer in [0, 5]"));
}

TEST(ParseChatRequestTest, LogprobsAndTopLogprobs) {
  const std::string base = R"({"messages": [{"role": "user", "content": "hi"}])";
  auto parse = [&](const std::string& extra) { return ParseChatRequest(base + extra + "}"); };
  auto none = parse(R"(, "logprobs": false, "top_logprobs": 0)");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->options.top_logprobs.has_value());
  auto plain = parse(R"(, "logprobs": true)");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->options.top_logprobs, 0);
  auto top = parse(R"(, "logprobs": true, "top_logprobs": 20)");
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->options.top_logprobs, 20);

  struct Case {
    const char* extra;
    const char* message;
  } cases[] = {
      {R"(, "top_logprobs": 3)", "'top_logprobs' requires 'logprobs' to be true"},
      {R"(, "logprobs": false, "top_logprobs": 3)", "requires 'logprobs' to be true"},
      {R"(, "logprobs": true, "top_logprobs": 21)", "'top_logprobs' must be an integer in [0, 20]"},
      {R"(, "logprobs": true, "top_logprobs": -1)", "'top_logprobs' must be an integer"},
      {R"(, "logprobs": true, "top_logprobs": "3")", "'top_logprobs' must be an integer"},
      {R"(, "logprobs": 1)", "'logprobs' must be a boolean"},
  };
  for (const Case& c : cases) {
    auto r = parse(c.extra);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.extra;
    EXPECT_THAT(r.status().message(), HasSubstr(c.message)) << c.extra;
  }
}

TEST(ParseChatRequestTest, IncludeUsageOnlyWhenStreaming) {
  auto r = ParseChatRequest(
      R"({"messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": true}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->options.include_usage);
}

TEST(ParseCompletionRequestTest, TandemModesReportIsOptIn) {
  auto plain = ParseCompletionRequest(R"({"prompt": "x"})");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->options.report_modes);
  auto asked = ParseCompletionRequest(R"({"prompt": "x", "tandem": {"modes": true}})");
  ASSERT_TRUE(asked.ok()) << asked.status();
  EXPECT_TRUE(asked->options.report_modes);
  EXPECT_THAT(ParseCompletionRequest(R"({"prompt": "x", "tandem": true})").status().message(),
              HasSubstr("'tandem' must be an object"));
  EXPECT_THAT(
      ParseCompletionRequest(R"({"prompt": "x", "tandem": {"modes": 1}})").status().message(),
      HasSubstr("'modes' must be a boolean"));
}

}  // namespace
}  // namespace tandem::edge
