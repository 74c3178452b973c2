// The worker core against hostile or greedy clients: sessions belong to their principal,
// one principal cannot take every slot, quiet sessions give way to live ones, and the
// memory budget covers everything a session allocates (measured as RSS).
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cloud/profile_gate.h"
#include "cloud/session_memory.h"
#include "cloud/stream_deadlines.h"
#include "cloud/worker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/cloud/fake_clock.h"
#include "tests/unit/cloud/worker_test_util.h"

namespace tandem::cloud {
namespace {

class WorkerSecurityTest : public ::testing::Test {
 protected:
  std::unique_ptr<Worker> MakeWorker(WorkerLimits limits) {
    return MakeTestWorker(clock_, limits, /*threads=*/1);
  }
  OpenRequest Hello(const std::string& id, const std::string& principal) {
    OpenRequest r = GreedyHello(*model_, 1, id);
    r.principal = principal;
    return r;
  }
  FakeClock clock_;
  const LlamaModel* const model_ = &testing_util::EmbeddedModel();
};

TEST_F(WorkerSecurityTest, OnlyTheOwnerResumesOrTakesOverASession) {
  auto worker = MakeWorker({});
  auto mine = worker->Open(Hello("s", "device-a"));
  ASSERT_TRUE(mine.ok());
  // Another principal, attached or detached: refused, and the owner's attachment lives on.
  auto theft = worker->Open(Hello("s", "device-b"));
  EXPECT_EQ(theft.status().code(), absl::StatusCode::kPermissionDenied) << theft.status();
  EXPECT_TRUE(worker->Truncate(mine->attachment, 0).ok());
  worker->Detach(mine->attachment);
  OpenRequest resume = Hello("s", "device-b");
  resume.require_cached = true;
  EXPECT_EQ(worker->Open(resume).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(worker->Open(Hello("s", "")).status().code(), absl::StatusCode::kPermissionDenied);
  // The owner resumes.
  auto again = worker->Open(Hello("s", "device-a"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->reply.resumed);
}

TEST_F(WorkerSecurityTest, OnePrincipalCannotTakeEverySlot) {
  WorkerLimits limits;
  limits.max_sessions = 4;
  limits.max_sessions_per_principal = 2;
  auto worker = MakeWorker(limits);
  ASSERT_TRUE(worker->Open(Hello("a1", "a")).ok());
  ASSERT_TRUE(worker->Open(Hello("a2", "a")).ok());
  auto third = worker->Open(Hello("a3", "a"));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), ::testing::HasSubstr("this client"));
  EXPECT_TRUE(worker->Open(Hello("b1", "b")).ok());
  EXPECT_TRUE(worker->Open(Hello("b2", "b")).ok());
}

TEST_F(WorkerSecurityTest, DetachedSessionsGiveWayButAttachedOnesNever) {
  WorkerLimits limits;
  limits.max_sessions = 2;
  auto worker = MakeWorker(limits);
  auto a = worker->Open(Hello("a", "x"));
  auto b = worker->Open(Hello("b", "x"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(worker->Open(Hello("c", "y")).status().code(), absl::StatusCode::kResourceExhausted);
  // a's stream went silent and was cancelled: its slot goes to the live request.
  worker->Detach(a->attachment);
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(worker->Open(Hello("c", "y")).ok());
  OpenRequest resume = Hello("a", "x");
  resume.require_cached = true;
  EXPECT_EQ(worker->Open(resume).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(worker->Truncate(b->attachment, 0).ok());  // b untouched
}

// Resident memory of this process in bytes (Linux /proc/self/statm).
int64_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

TEST_F(WorkerSecurityTest, MemoryBudgetCoversEverythingASessionAllocates) {
  // 64 max-size sessions asked for; the budget holds 24 of them, counted as the worker
  // counts them (KV cache + scratch + logits). Every admitted session is filled to its
  // full context in max-size chunks, so all it can allocate is touched.
  const LlamaHparams& hp = model_->hparams();
  WorkerLimits limits;
  limits.max_sessions = 64;
  limits.max_context = hp.context_length;
  limits.max_chunk_positions = 256;
  const int64_t chunk_bytes = int64_t{4} * hp.dim * limits.max_chunk_positions;
  const SessionMemory one = SessionMemoryBytes(hp, 1, hp.context_length, limits.max_chunk_positions,
                                               chunk_bytes, limits.max_draft_tokens);
  ASSERT_GT(one.scratch_bytes, one.kv_cache_bytes / 4) << "scratch matters for this test";
  limits.kv_budget_bytes = 24 * one.total();
  auto worker = MakeWorker(limits);
  const std::string payload(static_cast<size_t>(chunk_bytes), '\0');  // zeros: finite
  const int64_t before = RssBytes();
  int admitted = 0, refused = 0;
  std::vector<Attachment> held;
  for (int i = 0; i < 64; ++i) {
    OpenRequest hello = Hello(absl::StrCat("s", i), "p");
    hello.max_context = hp.context_length;
    auto opened = worker->Open(hello);
    if (!opened.ok()) {
      EXPECT_EQ(opened.status().code(), absl::StatusCode::kResourceExhausted);
      ++refused;
      continue;
    }
    ++admitted;
    for (int32_t pos = 0; pos < hp.context_length; pos += limits.max_chunk_positions) {
      const int32_t n = std::min(limits.max_chunk_positions, hp.context_length - pos);
      auto step = worker->Step(opened->attachment,
                               Chunk(pos, n, payload.substr(0, 4 * hp.dim * n), /*sample=*/true));
      ASSERT_TRUE(step.ok()) << step.status();
    }
    held.push_back(opened->attachment);
  }
  const int64_t grown = RssBytes() - before;
  EXPECT_EQ(admitted, 24);
  EXPECT_EQ(refused, 40);
  EXPECT_EQ(worker->Status().kv_bytes_in_use, 24 * one.total());
  // The process grew by no more than the budget (plus 2 MiB of allocator slack).
  EXPECT_LE(grown, limits.kv_budget_bytes + (2 << 20))
      << "RSS grew " << grown << " bytes for a budget of " << limits.kv_budget_bytes;
  // ... and the accounting is not wildly pessimistic either: most of it is really used.
  EXPECT_GE(grown, limits.kv_budget_bytes / 2);
  std::cout << "RSS grew " << grown / 1024 << " KiB for a budget of "
            << limits.kv_budget_bytes / 1024 << " KiB (" << admitted << " sessions of "
            << one.total() / 1024 << " KiB, of which KV " << one.kv_cache_bytes / 1024 << " KiB)\n";
}

TEST_F(WorkerSecurityTest, ACancelledProfileStopsAndFreesTheProfiler) {
  auto worker = MakeWorker({});
  const ProfileRequest request{
      .context_positions = 256, .prompt_chunk_positions = 64, .repetitions = 100};
  int asked = 0;
  // The caller goes away after the third timed run (of 5 layers x 2 x 100 + 100 head runs).
  auto profile = worker->Profile(request, [&] { return ++asked > 3; });
  EXPECT_EQ(profile.status().code(), absl::StatusCode::kCancelled) << profile.status();
  EXPECT_EQ(asked, 4);
  // The profiler is free again at once.
  EXPECT_TRUE(
      worker->Profile({.context_positions = 8, .prompt_chunk_positions = 4, .repetitions = 1})
          .ok());
}

TEST(StreamDeadlinesTest, SilentStreamsAreJudgedByTheirDeadline) {
  const StreamDeadlines d{.hello_timeout = absl::Seconds(2), .idle_timeout = absl::Seconds(10)};
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  StreamState waiting{.hello_done = false, .idle = true, .idle_since = t0};
  EXPECT_EQ(JudgeStream(waiting, t0 + absl::Seconds(1), d), StreamVerdict::kKeep);
  EXPECT_EQ(JudgeStream(waiting, t0 + absl::Seconds(2), d), StreamVerdict::kNoHello);
  StreamState attached{.hello_done = true, .idle = true, .idle_since = t0};
  EXPECT_EQ(JudgeStream(attached, t0 + absl::Seconds(9), d), StreamVerdict::kKeep);
  EXPECT_EQ(JudgeStream(attached, t0 + absl::Seconds(10), d), StreamVerdict::kSilent);
  StreamState busy{.hello_done = true, .idle = false, .idle_since = t0};
  EXPECT_EQ(JudgeStream(busy, t0 + absl::Hours(1), d), StreamVerdict::kKeep);
}

TEST(ProfileGateTest, AdminsOnlyAndRateLimited) {
  ProfileGate gate(
      ProfilePolicy{.admin_principals = {"tuner"}, .burst = 2, .refill = absl::Seconds(10)});
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_EQ(gate.Admit("device-a", t0).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(gate.Admit("", t0).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(gate.Admit("tuner", t0).ok());
  EXPECT_TRUE(gate.Admit("tuner", t0).ok());
  EXPECT_EQ(gate.Admit("tuner", t0 + absl::Seconds(1)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(gate.Admit("tuner", t0 + absl::Seconds(11)).ok());
  ProfileGate open(ProfilePolicy{.open = true});
  EXPECT_TRUE(open.Admit("", t0).ok());
}

}  // namespace
}  // namespace tandem::cloud
