// The worker core on the real model: split output equals the unsplit model, positions,
// limits, idle eviction with a fake clock, takeover, and concurrent sessions.
#include "cloud/worker.h"

#include <cmath>
#include <limits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cloud/idle_reaper.h"
#include "cloud/session_memory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/cloud/fake_clock.h"
#include "tests/unit/cloud/worker_test_util.h"

namespace tandem::cloud {
namespace {

using ::testing::HasSubstr;

class WorkerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Worker> MakeWorker(WorkerLimits limits = {}, int threads = 2) {
    return MakeTestWorker(clock_, limits, threads);
  }

  // Opens a session and runs `tokens` as one sampled chunk from position 0.
  absl::StatusOr<Worker::Opened> OpenAndPrefill(Worker& worker, EdgeHalf& edge, int32_t split,
                                                const std::string& id,
                                                const std::vector<int32_t>& tokens) {
    ASSIGN_OR_RETURN(Worker::Opened opened, worker.Open(GreedyHello(*model_, split, id)));
    ASSIGN_OR_RETURN(std::string payload, edge.Payload(tokens));
    RETURN_IF_ERROR(
        worker.Step(opened.attachment, Chunk(0, static_cast<int32_t>(tokens.size()), payload, true))
            .status());
    return opened;
  }

  FakeClock clock_;
  const LlamaModel* const model_ = &testing_util::EmbeddedModel();
  const int32_t n_layers_ = model_->hparams().n_layers;
};

TEST_F(WorkerTest, GreedyTokensEqualTheUnsplitModelAtEverySplit) {
  auto worker = MakeWorker();
  ASSERT_NE(worker, nullptr);
  const std::vector<int32_t> prompt = TestPrompt();
  auto reference = ReferenceGreedy(*model_, prompt, 12);
  ASSERT_TRUE(reference.ok()) << reference.status();
  for (int32_t k = 1; k < n_layers_; ++k) {
    for (int32_t chunk : {1, 4, 64}) {
      auto split =
          SplitGreedy(*worker, *model_, k, absl::StrCat("k", k, "c", chunk), prompt, 12, chunk);
      ASSERT_TRUE(split.ok()) << "K=" << k << ": " << split.status();
      EXPECT_EQ(*split, *reference) << "K=" << k << ", chunk " << chunk;
    }
  }
}

TEST_F(WorkerTest, TokenCarriesItsPositionAndLogprobs) {
  auto worker = MakeWorker();
  EdgeHalf edge = EdgeHalf::Create(*model_, 2).value();
  OpenRequest hello = GreedyHello(*model_, 2, "logprobs");
  hello.top_logprobs = 5;
  auto opened = worker->Open(hello);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->reply.top_logprobs, 5);
  const std::vector<int32_t> prompt = TestPrompt();
  auto payload = edge.Payload(prompt);
  ASSERT_TRUE(payload.ok());
  auto reply = worker->Step(opened->attachment, Chunk(0, prompt.size(), *payload, true));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->cached_positions, static_cast<int32_t>(prompt.size()));
  ASSERT_TRUE(reply->token.has_value());
  const SampledToken& token = *reply->token;
  EXPECT_EQ(token.position, static_cast<int32_t>(prompt.size()) - 1);
  ASSERT_EQ(token.top_logprobs.size(), 5u);
  // Greedy: the sampled token is the most likely one, and the list is sorted.
  EXPECT_EQ(token.top_logprobs[0].token, token.token_id);
  EXPECT_FLOAT_EQ(token.top_logprobs[0].logprob, token.logprob);
  for (size_t i = 1; i < token.top_logprobs.size(); ++i) {
    EXPECT_GE(token.top_logprobs[i - 1].logprob, token.top_logprobs[i].logprob);
  }
  EXPECT_LT(token.logprob, 0.0f);

  // The reference log-softmax from the unsplit model.
  ThreadPool pool(1);
  auto local = LocalSession::Create(*model_, 64, pool);
  ASSERT_TRUE(local.ok());
  auto logits = (*local)->Feed(prompt);
  ASSERT_TRUE(logits.ok());
  double z = 0;
  for (float l : *logits) z += std::exp(static_cast<double>(l));
  EXPECT_NEAR(token.logprob, (*logits)[token.token_id] - std::log(z), 1e-4);
}

TEST_F(WorkerTest, ChunksWithoutSampleReturnNoToken) {
  auto worker = MakeWorker();
  EdgeHalf edge = EdgeHalf::Create(*model_, 3).value();
  auto opened = worker->Open(GreedyHello(*model_, 3, "nosample"));
  ASSERT_TRUE(opened.ok());
  auto payload = edge.Payload({1, 2, 3});
  auto reply = worker->Step(opened->attachment, Chunk(0, 3, *payload, false));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->token.has_value());
  EXPECT_EQ(reply->cached_positions, 3);
}

TEST_F(WorkerTest, ChunksMustStartAtTheCachedPosition) {
  auto worker = MakeWorker();
  EdgeHalf edge = EdgeHalf::Create(*model_, 2).value();
  auto opened = OpenAndPrefill(*worker, edge, 2, "positions", {1, 2, 3, 4});
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto payload = edge.Payload({5});
  ASSERT_TRUE(payload.ok());
  // Stale (already cached) and out-of-order (gap) chunks are refused and change nothing.
  for (int32_t start : {0, 3, 5, 100}) {
    auto reply = worker->Step(opened->attachment, Chunk(start, 1, *payload, true));
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition) << start;
    EXPECT_THAT(reply.status().message(), HasSubstr("4 positions cached"));
  }
  auto reply = worker->Step(opened->attachment, Chunk(4, 1, *payload, true));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->cached_positions, 5);
}

TEST_F(WorkerTest, TruncateRewindsAndTheRerunMatches) {
  auto worker = MakeWorker();
  EdgeHalf edge = EdgeHalf::Create(*model_, 1).value();
  const std::vector<int32_t> prompt = TestPrompt();
  auto opened = OpenAndPrefill(*worker, edge, 1, "truncate", prompt);
  ASSERT_TRUE(opened.ok()) << opened.status();
  const int32_t n = static_cast<int32_t>(prompt.size());
  EXPECT_EQ(worker->Truncate(opened->attachment, n + 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(worker->Truncate(opened->attachment, -1).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(worker->Truncate(opened->attachment, n - 2).ok());
  // Rerun the last two prompt positions; the token must be the reference's first.
  edge.Rewind(n - 2);
  auto payload = edge.Payload({prompt[n - 2], prompt[n - 1]});
  auto reply = worker->Step(opened->attachment, Chunk(n - 2, 2, *payload, true));
  ASSERT_TRUE(reply.ok()) << reply.status();
  auto reference = ReferenceGreedy(*model_, prompt, 1);
  ASSERT_TRUE(reference.ok());
  EXPECT_EQ(reply->token->token_id, (*reference)[0]);
}

TEST_F(WorkerTest, DraftTokensAreVerifiedAgainstWhatTheWorkerSamples) {
  // Speculative decoding: the chunk holds the last prompt token and three drafts; the worker
  // accepts the drafts that equal its own greedy tokens, keeps their positions and answers
  // the token after the last accepted one.
  auto worker = MakeWorker();
  const std::vector<int32_t> prompt = TestPrompt();
  const int32_t n = static_cast<int32_t>(prompt.size());
  auto reference = ReferenceGreedy(*model_, prompt, 4);
  ASSERT_TRUE(reference.ok()) << reference.status();
  const std::vector<int32_t>& r = *reference;
  const int32_t wrong = (r[1] + 1) % model_->hparams().n_vocab;
  struct Case {
    std::vector<int32_t> drafts;
    int32_t accepted;
  };
  for (const Case& c : {Case{{r[0], r[1], r[2]}, 3}, Case{{r[0], wrong, r[2]}, 1},
                        Case{{wrong, r[1], r[2]}, 0}, Case{{r[0]}, 1}}) {
    EdgeHalf edge = EdgeHalf::Create(*model_, 2).value();
    auto opened =
        OpenAndPrefill(*worker, edge, 2, absl::StrCat("drafts", c.accepted, c.drafts.size()),
                       std::vector<int32_t>(prompt.begin(), prompt.end() - 1));
    ASSERT_TRUE(opened.ok()) << opened.status();
    std::vector<int32_t> tokens = {prompt.back()};
    tokens.insert(tokens.end(), c.drafts.begin(), c.drafts.end());
    auto payload = edge.Payload(tokens);
    ASSERT_TRUE(payload.ok());
    ChunkRequest chunk = Chunk(n - 1, static_cast<int32_t>(tokens.size()), *payload, true);
    chunk.draft_tokens = c.drafts;
    auto reply = worker->Step(opened->attachment, chunk);
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_TRUE(reply->token.has_value());
    EXPECT_EQ(reply->token->accepted_drafts, c.accepted);
    EXPECT_EQ(reply->token->position, n - 1 + c.accepted);
    EXPECT_EQ(reply->token->token_id, r[c.accepted]);
    EXPECT_EQ(reply->cached_positions, n + c.accepted);  // the rejected positions are gone
    // The session goes on from there as if it had decoded one token at a time.
    if (c.accepted + 1 < 4) {
      edge.Rewind(n + c.accepted);
      auto next = edge.Payload({r[c.accepted]});
      ASSERT_TRUE(next.ok());
      auto step = worker->Step(opened->attachment, Chunk(n + c.accepted, 1, *next, true));
      ASSERT_TRUE(step.ok()) << step.status();
      EXPECT_EQ(step->token->token_id, r[c.accepted + 1]);
    }
  }
}

TEST_F(WorkerTest, BadDraftTokensAreRefusedAndChangeNothing) {
  WorkerLimits limits;
  limits.max_draft_tokens = 2;
  auto worker = MakeWorker(limits);
  EdgeHalf edge = EdgeHalf::Create(*model_, 2).value();
  auto opened = OpenAndPrefill(*worker, edge, 2, "bad-drafts", {1, 2, 3});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->reply.max_draft_tokens, 2);
  auto payload = edge.Payload({4, 5, 6});
  ASSERT_TRUE(payload.ok());
  const std::vector<int32_t> three = {5, 6, 7}, two = {5, 6}, out_of_vocab = {5, -1};
  struct Case {
    int32_t n;
    bool sample;
    const std::vector<int32_t>* drafts;
    const char* message;
  };
  for (const Case& c : {Case{3, true, &three, "at most 2"}, Case{3, false, &two, "`sample`"},
                        Case{2, true, &two, "more than 2 positions"},
                        Case{3, true, &out_of_vocab, "outside the vocabulary"}}) {
    const std::string rows = payload->substr(0, payload->size() / 3 * c.n);
    ChunkRequest chunk = Chunk(3, c.n, rows, c.sample);
    chunk.draft_tokens = *c.drafts;
    auto reply = worker->Step(opened->attachment, chunk);
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(reply.status().message(), HasSubstr(c.message));
  }
  EXPECT_EQ(worker->Status().sessions, 1);
  ChunkRequest fine = Chunk(3, 3, *payload, true);
  fine.draft_tokens = two;
  auto reply = worker->Step(opened->attachment, fine);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_LE(reply->cached_positions, 6);
}

TEST_F(WorkerTest, ContextLimitGivesOutOfRange) {
  auto worker = MakeWorker();
  OpenRequest hello = GreedyHello(*model_, 2, "small");
  hello.max_context = 4;
  auto opened = worker->Open(hello);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->reply.max_context, 4);
  // Five positions through the edge half do not fit in the four granted.
  auto payload = EdgeHalf::Create(*model_, 2).value().Payload({1, 2, 3, 4, 5});
  auto reply = worker->Step(opened->attachment, Chunk(0, 5, *payload, true));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kOutOfRange) << reply.status();
}

TEST_F(WorkerTest, HelloValidation) {
  auto worker = MakeWorker();
  struct Case {
    const char* name;
    std::function<void(OpenRequest&)> mutate;
    absl::StatusCode code;
  };
  const std::vector<Case> cases = {
      {"model", [](OpenRequest& r) { r.model_id = "other-model@sha256:00"; },
       absl::StatusCode::kFailedPrecondition},
      {"version 0", [](OpenRequest& r) { r.protocol_version = 0; },
       absl::StatusCode::kFailedPrecondition},
      {"version 2", [](OpenRequest& r) { r.protocol_version = 2; },
       absl::StatusCode::kFailedPrecondition},
      {"K=0", [](OpenRequest& r) { r.split_layer = 0; }, absl::StatusCode::kFailedPrecondition},
      {"K=N", [&](OpenRequest& r) { r.split_layer = n_layers_; },
       absl::StatusCode::kFailedPrecondition},
      {"n_layers", [](OpenRequest& r) { r.n_layers += 1; }, absl::StatusCode::kFailedPrecondition},
      {"hidden_dim", [](OpenRequest& r) { r.hidden_dim = 128; },
       absl::StatusCode::kFailedPrecondition},
      {"empty id", [](OpenRequest& r) { r.session_id.clear(); },
       absl::StatusCode::kInvalidArgument},
      {"long id", [](OpenRequest& r) { r.session_id = std::string(129, 'x'); },
       absl::StatusCode::kInvalidArgument},
      {"id with space", [](OpenRequest& r) { r.session_id = "a b"; },
       absl::StatusCode::kInvalidArgument},
      {"NaN temperature",
       [](OpenRequest& r) { r.sampling.temperature = std::numeric_limits<float>::quiet_NaN(); },
       absl::StatusCode::kInvalidArgument},
      {"top_p", [](OpenRequest& r) { r.sampling.top_p = 1.5f; },
       absl::StatusCode::kInvalidArgument},
      {"negative resume", [](OpenRequest& r) { r.resume_position = -1; },
       absl::StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    OpenRequest hello = GreedyHello(*model_, 2, "validation");
    c.mutate(hello);
    auto opened = worker->Open(hello);
    EXPECT_EQ(opened.status().code(), c.code) << c.name << ": " << opened.status();
  }
  EXPECT_THAT(worker
                  ->Open([&] {
                    OpenRequest r = GreedyHello(*model_, 2, "x");
                    r.model_id = "other";
                    return r;
                  }())
                  .status()
                  .message(),
              HasSubstr("model mismatch"));
  EXPECT_EQ(worker->Status().sessions, 0);
}

TEST_F(WorkerTest, ParametersBeyondLimitsAreClampedWithANotice) {
  WorkerLimits limits;
  limits.max_context = 64;
  limits.max_top_logprobs = 3;
  auto worker = MakeWorker(limits);
  OpenRequest hello = GreedyHello(*model_, 2, "clamp");
  hello.max_context = 100000;
  hello.top_logprobs = 10;
  auto opened = worker->Open(hello);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->reply.max_context, 64);
  EXPECT_EQ(opened->reply.top_logprobs, 3);
  EXPECT_EQ(opened->reply.notices.size(), 2u);
}

TEST_F(WorkerTest, SessionAndMemoryLimits) {
  WorkerLimits limits;
  limits.max_sessions = 2;
  auto worker = MakeWorker(limits);
  ASSERT_TRUE(worker->Open(GreedyHello(*model_, 1, "a")).ok());
  ASSERT_TRUE(worker->Open(GreedyHello(*model_, 1, "b")).ok());
  auto third = worker->Open(GreedyHello(*model_, 1, "c"));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << third.status();

  // Memory budget: one session of 128 positions over layers [1, 5) fits, two do not. A
  // session counts its KV cache and its scratch (session_memory.h).
  const int64_t one = SessionMemoryBytes(model_->hparams(), 1, 128, limits.max_chunk_positions,
                                         worker->max_chunk_bytes(), limits.max_draft_tokens)
                          .total();
  WorkerLimits tight;
  tight.kv_budget_bytes = one + one / 2;
  auto small = MakeWorker(tight);
  auto first = small->Open(GreedyHello(*model_, 1, "a"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(small->Status().kv_bytes_in_use, one);
  auto second = small->Open(GreedyHello(*model_, 1, "b"));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(second.status().message(), HasSubstr("budget"));
  // Closing the first frees its memory.
  ASSERT_TRUE(small->Close(first->attachment).ok());
  EXPECT_EQ(small->Status().kv_bytes_in_use, 0);
  EXPECT_TRUE(small->Open(GreedyHello(*model_, 1, "b")).ok());
}

TEST_F(WorkerTest, ChunkLimitsAndBadPayloads) {
  WorkerLimits limits;
  limits.max_chunk_positions = 4;
  limits.max_chunk_bytes = 4 * 64 * 4;
  auto worker = MakeWorker(limits);
  EdgeHalf edge = EdgeHalf::Create(*model_, 2).value();
  auto opened = worker->Open(GreedyHello(*model_, 2, "chunks"));
  ASSERT_TRUE(opened.ok());
  const Attachment& a = opened->attachment;

  auto five = edge.Payload({1, 2, 3, 4, 5});
  ASSERT_TRUE(five.ok());
  EXPECT_EQ(worker->Step(a, Chunk(0, 5, *five, true)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(worker->Step(a, Chunk(0, 4, *five, true)).status().code(),
            absl::StatusCode::kResourceExhausted);  // payload over max_chunk_bytes
  EXPECT_EQ(worker->Step(a, Chunk(0, 0, "", true)).status().code(),
            absl::StatusCode::kInvalidArgument);

  edge.Rewind(0);
  auto one = edge.Payload({1});
  ASSERT_TRUE(one.ok());
  // Wrong size for the declared positions.
  auto bad_size = worker->Step(a, Chunk(0, 2, *one, true));
  EXPECT_EQ(bad_size.status().code(), absl::StatusCode::kInvalidArgument) << bad_size.status();
  const std::string truncated = one->substr(0, one->size() - 1);
  EXPECT_EQ(worker->Step(a, Chunk(0, 1, truncated, true)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // NaN and Inf values.
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::string poisoned = *one;
    std::memcpy(poisoned.data() + 8, &bad, sizeof(bad));
    auto reply = worker->Step(a, Chunk(0, 1, poisoned, true));
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument) << reply.status();
  }
  // A checksum that does not match the payload.
  ChunkRequest corrupt = Chunk(0, 1, *one, true);
  corrupt.payload_crc32c ^= 1;
  EXPECT_EQ(worker->Step(a, corrupt).status().code(), absl::StatusCode::kDataLoss);
  // None of that touched the session: a good chunk still runs at position 0.
  auto reply = worker->Step(a, Chunk(0, 1, *one, true));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->cached_positions, 1);
}

TEST_F(WorkerTest, EveryCodecRuns) {
  auto worker = MakeWorker();
  const std::vector<int32_t> prompt = TestPrompt();
  auto reference = ReferenceGreedy(*model_, prompt, 1);
  ASSERT_TRUE(reference.ok());
  for (CodecKind codec : kAllCodecKinds) {
    auto edge = EdgeHalf::Create(*model_, 2);
    ASSERT_TRUE(edge.ok());
    auto opened = worker->Open(GreedyHello(*model_, 2, std::string(CodecKindName(codec))));
    ASSERT_TRUE(opened.ok());
    auto payload = edge->Payload(prompt, codec);
    ASSERT_TRUE(payload.ok()) << payload.status();
    auto reply = worker->Step(opened->attachment, Chunk(0, prompt.size(), *payload, true, codec));
    ASSERT_TRUE(reply.ok()) << CodecKindName(codec) << ": " << reply.status();
    if (codec == CodecKind::kF32) {
      EXPECT_EQ(reply->token->token_id, (*reference)[0]);
    }
  }
}

TEST_F(WorkerTest, DetachedSessionsResumeUntilTheIdleTimeout) {
  WorkerLimits limits;
  limits.idle_timeout = absl::Seconds(60);
  auto worker = MakeWorker(limits);
  EdgeHalf edge = EdgeHalf::Create(*model_, 2).value();
  const std::vector<int32_t> prompt = TestPrompt();
  auto reference = ReferenceGreedy(*model_, prompt, 2);
  ASSERT_TRUE(reference.ok());
  auto opened = OpenAndPrefill(*worker, edge, 2, "idle", prompt);
  ASSERT_TRUE(opened.ok());
  worker->Detach(opened->attachment);

  // Just before the timeout: still there; resuming keeps every cached position.
  clock_.Advance(absl::Seconds(59));
  EXPECT_EQ(worker->EvictIdle(), 0);
  OpenRequest hello = GreedyHello(*model_, 2, "idle");
  hello.resume_position = static_cast<int32_t>(prompt.size());
  hello.require_cached = true;
  auto resumed = worker->Open(hello);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_TRUE(resumed->reply.resumed);
  EXPECT_EQ(resumed->reply.cached_positions, static_cast<int32_t>(prompt.size()));
  // ... and the next decode step continues the reference.
  auto payload = edge.Payload({(*reference)[0]});
  auto reply = worker->Step(resumed->attachment, Chunk(prompt.size(), 1, *payload, true));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->token->token_id, (*reference)[1]);

  // Attached sessions are never evicted, however long they idle.
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(worker->EvictIdle(), 0);
  worker->Detach(resumed->attachment);
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(worker->EvictIdle(), 1);
  EXPECT_EQ(worker->Status().sessions, 0);
  EXPECT_EQ(worker->Status().kv_bytes_in_use, 0);

  // Gone: NotFound if the edge insists on a cached session, else a fresh one at 0.
  auto lost = worker->Open(hello);
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kNotFound) << lost.status();
  hello.require_cached = false;
  auto fresh = worker->Open(hello);
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->reply.resumed);
  EXPECT_EQ(fresh->reply.cached_positions, 0);
}

TEST_F(WorkerTest, IdleReaperEvictsInTheBackground) {
  WorkerLimits limits;
  limits.idle_timeout = absl::Seconds(10);
  auto worker = MakeWorker(limits);
  auto a = worker->Open(GreedyHello(*model_, 1, "a"));
  ASSERT_TRUE(a.ok());
  worker->Detach(a->attachment);
  IdleReaper reaper(*worker, absl::Milliseconds(1));
  clock_.Advance(absl::Seconds(10));
  for (int i = 0; i < 10000 && worker->Status().sessions > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(worker->Status().sessions, 0);
}

TEST_F(WorkerTest, OpenEvictsDetachedSessionsToMakeRoom) {
  WorkerLimits limits;
  limits.max_sessions = 1;
  limits.idle_timeout = absl::Seconds(10);
  auto worker = MakeWorker(limits);
  auto a = worker->Open(GreedyHello(*model_, 1, "a"));
  ASSERT_TRUE(a.ok());
  // Attached: never evicted for another session.
  EXPECT_EQ(worker->Open(GreedyHello(*model_, 1, "b")).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Detached (its edge went away or its stream was cancelled for silence): it gives way
  // to a live request before its idle timeout.
  worker->Detach(a->attachment);
  EXPECT_TRUE(worker->Open(GreedyHello(*model_, 1, "b")).ok());
}

TEST_F(WorkerTest, ResumeKeepsAtMostTheEdgesPositions) {
  auto worker = MakeWorker();
  EdgeHalf edge = EdgeHalf::Create(*model_, 3).value();
  const std::vector<int32_t> prompt = TestPrompt();
  auto opened = OpenAndPrefill(*worker, edge, 3, "rewind", prompt);
  ASSERT_TRUE(opened.ok());
  worker->Detach(opened->attachment);
  OpenRequest hello = GreedyHello(*model_, 3, "rewind");
  hello.resume_position = 5;  // the edge only vouches for 5 positions
  auto resumed = worker->Open(hello);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->reply.cached_positions, 5);
  // Resend the rest; the token equals the reference.
  edge.Rewind(5);
  const std::vector<int32_t> rest(prompt.begin() + 5, prompt.end());
  auto payload = edge.Payload(rest);
  auto reply = worker->Step(resumed->attachment, Chunk(5, rest.size(), *payload, true));
  ASSERT_TRUE(reply.ok()) << reply.status();
  auto reference = ReferenceGreedy(*model_, prompt, 1);
  EXPECT_EQ(reply->token->token_id, (*reference)[0]);

  // A resume with a different split layer is refused.
  hello.split_layer = 2;
  EXPECT_EQ(worker->Open(hello).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(WorkerTest, ANewStreamTakesTheSessionOver) {
  auto worker = MakeWorker();
  EdgeHalf edge = EdgeHalf::Create(*model_, 2).value();
  auto first = OpenAndPrefill(*worker, edge, 2, "takeover", {1, 2, 3});
  ASSERT_TRUE(first.ok());
  OpenRequest hello = GreedyHello(*model_, 2, "takeover");
  hello.resume_position = 3;
  auto second = worker->Open(hello);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->reply.cached_positions, 3);
  auto payload = edge.Payload({4});
  EXPECT_EQ(worker->Step(first->attachment, Chunk(3, 1, *payload, true)).status().code(),
            absl::StatusCode::kAborted);
  // The old stream ending does not detach the new one.
  worker->Detach(first->attachment);
  EXPECT_EQ(worker->Status().attached_sessions, 1);
  EXPECT_TRUE(worker->Step(second->attachment, Chunk(3, 1, *payload, true)).ok());
  ASSERT_TRUE(worker->Close(second->attachment).ok());
  EXPECT_EQ(worker->Step(second->attachment, Chunk(4, 1, *payload, true)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(WorkerTest, SamplingDependsOnlyOnSeedAndPosition) {
  auto worker = MakeWorker();
  const std::vector<int32_t> prompt = TestPrompt();
  std::vector<int32_t> tokens;
  for (const char* id : {"s1", "s2"}) {
    auto edge = EdgeHalf::Create(*model_, 2);
    OpenRequest hello = GreedyHello(*model_, 2, id);
    hello.sampling = SamplingParams{.temperature = 1.0f, .top_k = 0, .top_p = 1, .seed = 42};
    auto opened = worker->Open(hello);
    ASSERT_TRUE(opened.ok());
    // s2 first runs a throwaway step and rewinds: the draw must not depend on it.
    if (std::string(id) == "s2") {
      auto p = edge->Payload(prompt);
      ASSERT_TRUE(worker->Step(opened->attachment, Chunk(0, prompt.size(), *p, true)).ok());
      ASSERT_TRUE(worker->Truncate(opened->attachment, 0).ok());
      edge->Rewind(0);
    }
    auto p = edge->Payload(prompt);
    auto reply = worker->Step(opened->attachment, Chunk(0, prompt.size(), *p, true));
    ASSERT_TRUE(reply.ok());
    tokens.push_back(reply->token->token_id);
  }
  EXPECT_EQ(tokens[0], tokens[1]);
}

TEST_F(WorkerTest, ConcurrentSessionsGiveTheSequentialTokens) {
  auto worker = MakeWorker();
  constexpr int kSessions = 16;
  std::vector<std::vector<int32_t>> sequential(kSessions), concurrent(kSessions);
  auto split_of = [&](int i) { return 1 + i % (n_layers_ - 1); };
  for (int i = 0; i < kSessions; ++i) {
    auto tokens =
        SplitGreedy(*worker, *model_, split_of(i), absl::StrCat("seq", i), TestPrompt(i), 10, 3);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    sequential[i] = *tokens;
  }
  std::vector<absl::Status> errors(kSessions);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      auto tokens =
          SplitGreedy(*worker, *model_, split_of(i), absl::StrCat("par", i), TestPrompt(i), 10, 3);
      if (tokens.ok()) {
        concurrent[i] = *tokens;
      } else {
        errors[i] = tokens.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kSessions; ++i) {
    EXPECT_TRUE(errors[i].ok()) << errors[i];
    EXPECT_EQ(concurrent[i], sequential[i]) << "session " << i;
  }
}

TEST_F(WorkerTest, DrainingRefusesNewSessions) {
  auto worker = MakeWorker();
  auto a = worker->Open(GreedyHello(*model_, 1, "a"));
  ASSERT_TRUE(a.ok());
  worker->BeginDrain();
  EXPECT_EQ(worker->Status().state, ServingState::kDraining);
  EXPECT_EQ(worker->Open(GreedyHello(*model_, 1, "b")).status().code(),
            absl::StatusCode::kUnavailable);
  worker->Shutdown();
  auto edge = EdgeHalf::Create(*model_, 1);
  auto payload = edge->Payload({1});
  EXPECT_EQ(worker->Step(a->attachment, Chunk(0, 1, *payload, true)).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(WorkerTest, ProfileTimesEveryLayer) {
  auto worker = MakeWorker();
  ProfileRequest request{.context_positions = 32, .prompt_chunk_positions = 16, .repetitions = 3};
  auto profile = worker->Profile(request);
  ASSERT_TRUE(profile.ok()) << profile.status();
  ASSERT_EQ(profile->layers.size(), static_cast<size_t>(n_layers_));
  for (int32_t l = 0; l < n_layers_; ++l) {
    EXPECT_EQ(profile->layers[l].layer, l);
    EXPECT_GT(profile->layers[l].decode_seconds, 0);
    EXPECT_GT(profile->layers[l].prompt_chunk_seconds, 0);
  }
  EXPECT_GT(profile->head_decode_seconds, 0);
  EXPECT_EQ(profile->effective.end_layer, n_layers_);
  EXPECT_EQ(profile->threads, 2);

  request.first_layer = 2;
  request.end_layer = 1;
  EXPECT_EQ(worker->Profile(request).status().code(), absl::StatusCode::kInvalidArgument);
  request = ProfileRequest{.context_positions = 1 << 20, .prompt_chunk_positions = 1};
  EXPECT_EQ(worker->Profile(request).status().code(), absl::StatusCode::kOutOfRange);
}

// A fresh worker has measured its batch costs before the first Hello, so a session whose
// per-token target no batch can meet is refused at once (its edge falls back) instead of
// admitted on no data; without the calibration the same Hello is admitted.
TEST(WorkerCalibrationTest, FirstSessionIsRefusedWhenNoBatchMeetsItsTarget) {
  const SystemClock clock;
  const LlamaModel& model = testing_util::EmbeddedModel();
  OpenRequest hello = GreedyHello(model, 1, "impatient");
  hello.token_deadline = absl::Nanoseconds(100);  // below any step
  for (int32_t repetitions : {2, 0}) {
    auto worker = Worker::Create({.model_path = TANDEM_TEST_MODEL,
                                  .limits = {.max_batch_positions = 16},
                                  .calibration_repetitions = repetitions},
                                 clock);
    ASSERT_TRUE(worker.ok()) << worker.status();
    const StepCostModel& cost = (*worker)->step_cost();
    if (repetitions == 0) {
      EXPECT_FALSE(cost.Predict(1).has_value());
      EXPECT_TRUE((*worker)->Open(hello).ok());
      continue;
    }
    for (int32_t rows : {1, 2, 4, 8, 16}) {
      ASSERT_TRUE(cost.Predict(rows).has_value()) << rows;
      EXPECT_GT(*cost.Predict(rows), absl::ZeroDuration()) << rows;
    }
    auto refused = (*worker)->Open(hello);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
    hello.token_deadline = absl::InfiniteDuration();  // no target: admitted
    EXPECT_TRUE((*worker)->Open(hello).ok());
    hello.token_deadline = absl::Nanoseconds(100);
  }
}

}  // namespace
}  // namespace tandem::cloud
