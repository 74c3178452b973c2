// The cloud worker's core: the full model loaded once, the table of edge sessions (each
// with its own layers [K, N), KV cache and sampling state), the limits on everything a
// remote peer controls, and the scheduler that shares one compute pool between sessions.
// No gRPC here: the service layer translates messages into these calls.
//
// Session lifecycle: Open (Hello) attaches a stream to a new or existing session;
// Step/Truncate run on it; Detach (stream ended) keeps it resumable for the idle timeout,
// after which EvictIdle drops it; Close drops it at once. Opening an attached session
// takes it over: the older attachment's calls fail with Aborted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cloud/admission.h"
#include "cloud/layer_profiler.h"
#include "cloud/messages.h"
#include "cloud/open_validation.h"
#include "cloud/session.h"
#include "cloud/step_scheduler.h"
#include "cloud/worker_config.h"
#include "common/model/llama_model.h"
#include "common/util/clock.h"

namespace tandem::cloud {

class Worker {
 public:
  // Loads the model at config.model_path (all layers and the head). `clock` must outlive
  // the worker.
  static absl::StatusOr<std::unique_ptr<Worker>> Create(const WorkerConfig& config,
                                                        const Clock& clock);

  struct Opened {
    OpenReply reply;
    Attachment attachment;
  };
  // Validates the hello (see open_validation.h), then resumes the session with that id
  // (keeping min(resume_position, cached) positions) or starts a new one. NotFound for an
  // unknown id with require_cached; PermissionDenied if the id belongs to another
  // principal (request.principal); ResourceExhausted without room (sessions, the
  // principal's share, the memory budget) once detached sessions were evicted, oldest
  // first, to make room, or the per-token latency targets of the attached sessions,
  // see admission.h);
  // Unavailable while draining; FailedPrecondition if the id belongs to a session with
  // another split layer.
  absl::StatusOr<Opened> Open(const OpenRequest& request);

  // One chunk of the attached session (see Session::Step for the codes); Aborted if the
  // session was taken over, NotFound if it was closed or evicted.
  absl::StatusOr<StepReply> Step(const Attachment& attachment, const ChunkRequest& chunk);
  absl::Status Truncate(const Attachment& attachment, int32_t position);
  // Frees the session at once.
  absl::Status Close(const Attachment& attachment);
  // The stream ended: the session stays resumable for the idle timeout. No-op if the
  // session was taken over or is gone.
  void Detach(const Attachment& attachment);
  // OK while `attachment` is its session's current stream: Aborted if the session was
  // taken over, NotFound if it was closed or evicted.
  absl::Status CheckAttached(const Attachment& attachment) const ABSL_LOCKS_EXCLUDED(mu_);

  // Drops detached sessions idle for the idle timeout or longer; returns how many. Also
  // runs on every Open, so a full worker makes room from expired sessions first.
  int32_t EvictIdle();

  WorkerStatus Status() const;

  // Per-layer timings (see layer_profiler.h), bounded by the limits. ResourceExhausted if
  // another profile is running.
  // Stops with Cancelled once `cancelled` says so.
  absl::StatusOr<ProfileResult> Profile(const ProfileRequest& request,
                                        const ProfileCancelled& cancelled = {});

  // New sessions are refused with Unavailable; existing ones keep running.
  void BeginDrain();
  bool draining() const;
  // Steps not yet running are refused with Unavailable (running ones finish).
  void Shutdown();

  // Largest payload a chunk may carry: the byte limit, or max_chunk_positions f32 rows
  // if that is smaller (no codec is larger than f32).
  int64_t max_chunk_bytes() const;

  const LlamaModel& model() const { return *model_; }
  const WorkerLimits& limits() const { return limits_; }
  int threads() const { return scheduler_.threads(); }
  // Batch step time by positions, measured (startup calibration, then the batches run).
  const StepCostModel& step_cost() const { return scheduler_.cost_model(); }

 private:
  struct Entry {
    std::shared_ptr<Session> session;  // null while the session is being created
    bool attached = false;
    uint64_t generation = 0;
    absl::Time last_active;
    int64_t kv_bytes = 0;   // reserved in kv_bytes_in_use_ (KV cache + scratch)
    std::string principal;  // who opened it; only they may resume or take it over
    // The per-token target of the attached stream (admission reads it under mu_, never
    // the session's own, whose mutex a running step holds).
    absl::Duration token_deadline = absl::InfiniteDuration();
  };

  Worker(std::unique_ptr<LlamaModel> model, const WorkerConfig& config, const Clock& clock);
  absl::StatusOr<Opened> Start(const OpenRequest& request, const OpenGrant& grant,
                               uint64_t generation);
  OpenReply BaseReply(const OpenRequest& request, const OpenGrant& grant) const;
  // The session `attachment` refers to, or Aborted / NotFound.
  absl::StatusOr<std::shared_ptr<Session>> Find(const Attachment& attachment) const;
  absl::Status CheckAttachedLocked(const Attachment& attachment) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int32_t EvictIdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ResourceExhausted if one more decoding session would make the attached sessions (or
  // the new one) miss their per-token targets (see admission.h).
  absl::Status CheckDeadlineAdmissionLocked(absl::Duration new_target) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the detached session idle longest (to admit a new one), of `principal` only if
  // given; false if there is none.
  bool EvictOldestDetachedLocked(const std::string* principal) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Refusal of a new session for `principal` needing `bytes`, or OK if it fits.
  absl::Status AdmitLocked(const std::string& principal, int64_t bytes, int32_t max_context) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t KvCacheBytes(int32_t split_layer, int32_t max_context) const;

  const std::unique_ptr<LlamaModel> model_;
  const WorkerLimits limits_;
  const Clock& clock_;
  StepScheduler scheduler_;
  absl::Mutex profile_mu_;  // one profile at a time

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> sessions_ ABSL_GUARDED_BY(mu_);
  int64_t kv_bytes_in_use_ ABSL_GUARDED_BY(mu_) = 0;  // reserved by sessions_
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tandem::cloud
