// An in-process CloudLink for tests: a "worker" that runs the real layers [K, N), the head
// and the sampler on the decoded chunks, with faults to inject (refused opens, a worker
// that stops answering, a link that drops, a restart that loses every session). It checks
// what a real worker checks: model identity, split point, contiguous positions, payload
// sizes (via the codec). Like the real worker it keeps sessions across streams: a Hello
// with a known session id resumes it, keeping min(resume_position, cached) positions, and
// takes it over from an older stream.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/model/llama_model.h"
#include "common/util/thread_pool.h"
#include "edge/cloud_link.h"

namespace tandem::edge {

struct FakeCloudOptions {
  int32_t max_chunk_positions = 512;
  int64_t max_chunk_bytes = 1 << 20;
  std::vector<CodecKind> codecs = {CodecKind::kF32, CodecKind::kF16, CodecKind::kQ8,
                                   CodecKind::kQ4};
  int32_t max_top_logprobs = 20;  // Hello.top_logprobs is clamped to it, as the worker does
};

class FakeCloudLink final : public CloudLink {
 public:
  // `model` must have the head and every layer a session may ask for loaded (typically
  // the whole model). Streams share one compute pool and take turns. Tokens carry logprobs
  // as the worker's do (LogprobOf) when the Hello asks for them.
  FakeCloudLink(const LlamaModel& model, FakeCloudOptions options = {});
  ~FakeCloudLink() override;

  absl::StatusOr<std::unique_ptr<CloudStream>> Open(const SessionHello& hello,
                                                    absl::Time deadline) override;
  absl::Status Probe(absl::Time deadline) override;

  // Faults. Opens fail with `status` (OK to heal).
  void SetOpenStatus(absl::Status status);
  // After `tokens` more tokens (over all streams), Receive returns DeadlineExceeded, as
  // if the worker hung, or `status` if given (a dropped link), until Heal().
  void FailAfterTokens(int32_t tokens, std::optional<absl::Status> status = std::nullopt);
  // After `tokens` more tokens, one Receive fails with `status` (that stream is broken);
  // tokens flow again after it.
  void FailOnce(int32_t tokens, absl::Status status);
  // Tokens flow again (broken streams stay broken).
  void Heal();
  // The worker restarts: every session is lost and open streams are broken (Unavailable).
  void LoseSessions();

  // Observations.
  int32_t opens() const;
  int32_t closes() const;  // sessions ended with Close
  std::optional<SessionHello> last_hello() const;
  std::optional<SessionReady> last_ready() const;
  // Every chunk received, in order (all streams).
  std::vector<HiddenChunk> chunks() const;
  int32_t sessions() const;  // held

 private:
  class Stream;
  struct Session;
  friend class Stream;
  // Whether the next token may be delivered; the fault to return otherwise.
  absl::Status TakeToken();
  // OK while `stream` (of `generation`) is the session's current stream and no restart
  // happened since it was opened.
  absl::Status CheckCurrent(const std::string& id, uint64_t generation, uint64_t epoch) const;
  void EraseSession(const std::string& id);

  const LlamaModel& model_;
  const FakeCloudOptions options_;
  std::unique_ptr<ThreadPool> pool_;
  absl::Mutex compute_mu_;  // one Run at a time on pool_
  mutable absl::Mutex mu_;
  absl::Status open_status_ ABSL_GUARDED_BY(mu_);
  std::optional<int32_t> tokens_left_ ABSL_GUARDED_BY(mu_);
  absl::Status token_fault_ ABSL_GUARDED_BY(mu_);
  bool fault_once_ ABSL_GUARDED_BY(mu_) = false;
  int32_t opens_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t closes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;  // restarts
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<std::string, std::shared_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  std::optional<SessionHello> last_hello_ ABSL_GUARDED_BY(mu_);
  std::optional<SessionReady> last_ready_ ABSL_GUARDED_BY(mu_);
  std::vector<HiddenChunk> chunks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::edge
