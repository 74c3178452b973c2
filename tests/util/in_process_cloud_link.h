// An in-process CloudLink for tests: the edge talks to a real cloud::Worker (no gRPC), so
// edge tests exercise the worker's own rules (validation, limits, resume, take-over,
// sampling by position). On top, faults to inject: refused opens, a worker that stops
// answering, a link that drops, a restart that loses every session.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cloud/worker.h"
#include "cloud/worker_config.h"
#include "edge/cloud_link.h"

namespace tandem::testing_util {

struct InProcessCloudOptions {
  // The worker's model (all layers and the head). The edge's model must come from the
  // same file for the identities to match.
  std::string model_path = TANDEM_TEST_MODEL;
  cloud::WorkerLimits limits;
};

class InProcessCloudLink final : public edge::CloudLink {
 public:
  // Starts the worker (one compute thread); aborts if the model does not load.
  explicit InProcessCloudLink(InProcessCloudOptions options = {});
  ~InProcessCloudLink() override;

  absl::StatusOr<std::unique_ptr<edge::CloudStream>> Open(const edge::SessionHello& hello,
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
  // The worker restarts: a new worker without any session; open streams are broken
  // (Unavailable).
  void LoseSessions();

  // Observations.
  int32_t opens() const;
  int32_t closes() const;  // sessions ended with Close
  std::optional<edge::SessionHello> last_hello() const;
  std::optional<edge::SessionReady> last_ready() const;
  // Every chunk received, in order (all streams).
  std::vector<edge::HiddenChunk> chunks() const;
  int32_t sessions() const;  // held by the worker

 private:
  class Stream;
  friend class Stream;
  std::shared_ptr<cloud::Worker> StartWorker() const;
  // Whether the next token may be delivered; the fault to return otherwise.
  absl::Status TakeToken();
  // Unavailable if the worker restarted since `epoch`.
  absl::Status CheckEpoch(uint64_t epoch) const;
  void Record(const edge::HiddenChunk& chunk);
  void CountClose();

  const InProcessCloudOptions options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<cloud::Worker> worker_ ABSL_GUARDED_BY(mu_);
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;  // restarts
  absl::Status open_status_ ABSL_GUARDED_BY(mu_);
  std::optional<int32_t> tokens_left_ ABSL_GUARDED_BY(mu_);
  absl::Status token_fault_ ABSL_GUARDED_BY(mu_);
  bool fault_once_ ABSL_GUARDED_BY(mu_) = false;
  int32_t opens_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t closes_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<edge::SessionHello> last_hello_ ABSL_GUARDED_BY(mu_);
  std::optional<edge::SessionReady> last_ready_ ABSL_GUARDED_BY(mu_);
  std::vector<edge::HiddenChunk> chunks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::testing_util
