#include "cloud/worker.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "cloud/session_memory.h"
#include "cloud/step_cost_calibration.h"
#include "common/codec/hidden_codec.h"
#include "common/util/status_macros.h"

namespace tandem::cloud {

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(const WorkerConfig& config,
                                                       const Clock& clock) {
  RETURN_IF_ERROR(config.Validate());
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                   LlamaModel::Load(config.model_path, {.load_mode = config.load_mode}));
  if (!model->has_head() || model->layer_end() != model->hparams().n_layers ||
      model->hparams().n_layers < 2) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: the worker needs the output head and at least two layers", config.model_path));
  }
  auto worker = std::unique_ptr<Worker>(new Worker(std::move(model), config, clock));
  if (config.calibration_repetitions > 0) {
    // Decode batches hold one position per session; prompt slices fill up to the limit.
    const int32_t max_rows = std::min(config.limits.max_batch_positions, 64);
    const int32_t first_split = std::max(1, worker->model_->layer_begin());
    RETURN_IF_ERROR(CalibrateStepCost(*worker->model_, first_split, max_rows,
                                      config.calibration_repetitions, worker->scheduler_));
  }
  return worker;
}

Worker::Worker(std::unique_ptr<LlamaModel> model, const WorkerConfig& config, const Clock& clock)
    : model_(std::move(model)),
      limits_(config.limits),
      clock_(clock),
      scheduler_({.threads = config.threads,
                  .max_batch_rows = config.limits.max_batch_positions,
                  .gather_window = config.batch_gather},
                 clock) {}

int64_t Worker::KvCacheBytes(int32_t split_layer, int32_t max_context) const {
  // Everything the session allocates, not only its KV cache (session_memory.h).
  return SessionMemoryBytes(model_->hparams(), split_layer, max_context,
                            limits_.max_chunk_positions, max_chunk_bytes(),
                            limits_.max_draft_tokens)
      .total();
}

int64_t Worker::max_chunk_bytes() const {
  const int64_t f32_rows = int64_t{4} * model_->hparams().dim * limits_.max_chunk_positions;
  return std::min(limits_.max_chunk_bytes, f32_rows);
}

OpenReply Worker::BaseReply(const OpenRequest& request, const OpenGrant& grant) const {
  OpenReply reply;
  reply.session_id = request.session_id;
  reply.model_id = model_->identity();
  reply.protocol_version = request.protocol_version;
  reply.max_chunk_positions = limits_.max_chunk_positions;
  reply.max_chunk_bytes = max_chunk_bytes();
  for (CodecKind kind : kAllCodecKinds) {
    if (ValidateCodecDim(kind, model_->hparams().dim).ok()) reply.codecs.push_back(kind);
  }
  reply.max_top_logprobs = limits_.max_top_logprobs;
  reply.max_draft_tokens = limits_.max_draft_tokens;
  reply.top_logprobs = grant.top_logprobs;
  reply.notices = grant.notices;
  return reply;
}

absl::StatusOr<Worker::Opened> Worker::Open(const OpenRequest& request) {
  ASSIGN_OR_RETURN(OpenGrant grant, ValidateOpenRequest(request, *model_, limits_));
  std::shared_ptr<Session> existing;
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    if (draining_) {
      return absl::UnavailableError("the worker is draining; open the session elsewhere");
    }
    EvictIdleLocked();
    auto it = sessions_.find(request.session_id);
    if (it != sessions_.end()) {
      Entry& entry = it->second;
      if (entry.session == nullptr) {
        return absl::AbortedError(
            absl::StrFormat("session %s is being opened by another stream", request.session_id));
      }
      if (entry.principal != request.principal) {
        // Never another device's context, and no take-over of its stream.
        return absl::PermissionDeniedError(
            absl::StrFormat("session %s belongs to another client", request.session_id));
      }
      if (entry.session->split_layer() != request.split_layer) {
        return absl::FailedPreconditionError(
            absl::StrFormat("session %s runs split layer %d, the hello asks for %d",
                            request.session_id, entry.session->split_layer(), request.split_layer));
      }
      // Take the session over (or re-attach it): older attachments become stale.
      entry.generation = next_generation_++;
      entry.attached = true;
      entry.token_deadline = request.token_deadline;
      entry.last_active = clock_.Now();
      existing = entry.session;
      generation = entry.generation;
    } else {
      if (request.require_cached) {
        return absl::NotFoundError(absl::StrFormat(
            "session %s is unknown to this worker (never opened, closed, evicted after the "
            "idle timeout, or lost in a restart)",
            request.session_id));
      }
      const int64_t bytes = KvCacheBytes(request.split_layer, grant.max_context);
      absl::Status admitted = AdmitLocked(request.principal, bytes, grant.max_context);
      // Resumable sessions whose edges went quiet give way to a live request.
      // (The principal's own when its share is used up, anyone's when the worker is full.)
      while (!admitted.ok() &&
             EvictOldestDetachedLocked(absl::IsPermissionDenied(admitted) ? &request.principal
                                                                          : nullptr)) {
        admitted = AdmitLocked(request.principal, bytes, grant.max_context);
      }
      if (absl::IsPermissionDenied(admitted)) {
        return absl::ResourceExhaustedError(admitted.message());
      }
      RETURN_IF_ERROR(admitted);
      RETURN_IF_ERROR(CheckDeadlineAdmissionLocked(request.token_deadline));
      // Reserve the slot and the memory; the cache itself is allocated outside the lock.
      kv_bytes_in_use_ += bytes;
      generation = next_generation_++;
      sessions_.emplace(request.session_id, Entry{.session = nullptr,
                                                  .attached = true,
                                                  .generation = generation,
                                                  .last_active = clock_.Now(),
                                                  .kv_bytes = bytes,
                                                  .principal = request.principal,
                                                  .token_deadline = request.token_deadline});
    }
  }
  if (existing == nullptr) return Start(request, grant, generation);

  Opened opened{.reply = BaseReply(request, grant), .attachment = {request.session_id, generation}};
  opened.reply.cached_positions = existing->Resume(request.resume_position, request.sampling,
                                                   grant.top_logprobs, request.token_deadline);
  opened.reply.max_context = existing->max_context();
  opened.reply.resumed = true;
  return opened;
}

absl::StatusOr<Worker::Opened> Worker::Start(const OpenRequest& request, const OpenGrant& grant,
                                             uint64_t generation) {
  auto runner = LayerRunner::Create(*model_, request.split_layer, model_->hparams().n_layers,
                                    grant.max_context);
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(request.session_id);
  // Nobody else can have changed the entry: other Opens of this id are refused while
  // its session is null, and an attached entry is never evicted.
  if (it == sessions_.end() || it->second.generation != generation) {
    return absl::InternalError("a session entry changed while it was being opened");
  }
  if (!runner.ok()) {
    EraseLocked(request.session_id);
    return runner.status();
  }
  it->second.session =
      std::make_shared<Session>(request.session_id, request.principal, *model_, *std::move(runner),
                                request.sampling, grant.top_logprobs, request.token_deadline);
  Opened opened{.reply = BaseReply(request, grant), .attachment = {request.session_id, generation}};
  opened.reply.cached_positions = 0;
  opened.reply.max_context = grant.max_context;
  return opened;
}

absl::Status Worker::CheckDeadlineAdmissionLocked(absl::Duration new_target) const {
  std::vector<absl::Duration> targets;
  for (const auto& [id, entry] : sessions_) {
    if (entry.attached) targets.push_back(entry.token_deadline);
  }
  return CheckDeadlineAdmission(scheduler_.cost_model(), targets, new_target);
}

absl::Status Worker::CheckAttachedLocked(const Attachment& attachment) const {
  auto it = sessions_.find(attachment.session_id);
  if (it == sessions_.end()) {
    return absl::NotFoundError(
        absl::StrFormat("session %s is gone (closed or evicted)", attachment.session_id));
  }
  if (it->second.generation != attachment.generation) {
    return absl::AbortedError(
        absl::StrFormat("session %s was taken over by another stream", attachment.session_id));
  }
  if (it->second.session == nullptr) {
    return absl::InternalError(
        absl::StrFormat("session %s is still being opened", attachment.session_id));
  }
  return absl::OkStatus();
}

absl::Status Worker::CheckAttached(const Attachment& attachment) const {
  absl::MutexLock lock(&mu_);
  return CheckAttachedLocked(attachment);
}

absl::StatusOr<std::shared_ptr<Session>> Worker::Find(const Attachment& attachment) const {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckAttachedLocked(attachment));
  return sessions_.find(attachment.session_id)->second.session;
}

absl::StatusOr<StepReply> Worker::Step(const Attachment& attachment, const ChunkRequest& chunk) {
  ASSIGN_OR_RETURN(std::shared_ptr<Session> session, Find(attachment));
  absl::StatusOr<StepReply> reply =
      session->Step(chunk,
                    ChunkLimits{.max_positions = limits_.max_chunk_positions,
                                .max_bytes = max_chunk_bytes(),
                                .max_draft_tokens = limits_.max_draft_tokens},
                    scheduler_, [&] { return CheckAttached(attachment); });
  absl::MutexLock lock(&mu_);
  if (CheckAttachedLocked(attachment).ok()) {
    sessions_.find(attachment.session_id)->second.last_active = clock_.Now();
  }
  return reply;
}

absl::Status Worker::Truncate(const Attachment& attachment, int32_t position) {
  ASSIGN_OR_RETURN(std::shared_ptr<Session> session, Find(attachment));
  return session->Truncate(position, [&] { return CheckAttached(attachment); });
}

absl::Status Worker::Close(const Attachment& attachment) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckAttachedLocked(attachment));
  EraseLocked(attachment.session_id);
  return absl::OkStatus();
}

void Worker::Detach(const Attachment& attachment) {
  absl::MutexLock lock(&mu_);
  if (!CheckAttachedLocked(attachment).ok()) return;
  Entry& entry = sessions_.find(attachment.session_id)->second;
  entry.attached = false;
  entry.last_active = clock_.Now();
}

void Worker::EraseLocked(const std::string& id) {
  auto it = sessions_.find(id);
  kv_bytes_in_use_ -= it->second.kv_bytes;
  sessions_.erase(it);
}

int32_t Worker::EvictIdleLocked() {
  const absl::Time now = clock_.Now();
  std::vector<std::string> expired;
  for (const auto& [id, entry] : sessions_) {
    if (!entry.attached && entry.session != nullptr &&
        now - entry.last_active >= limits_.idle_timeout) {
      expired.push_back(id);
    }
  }
  for (const std::string& id : expired) EraseLocked(id);
  return static_cast<int32_t>(expired.size());
}

absl::Status Worker::AdmitLocked(const std::string& principal, int64_t bytes,
                                 int32_t max_context) const {
  const int32_t share = limits_.max_sessions_per_principal > 0 ? limits_.max_sessions_per_principal
                                                               : limits_.max_sessions;
  int32_t own = 0;
  for (const auto& [id, entry] : sessions_) own += entry.principal == principal ? 1 : 0;
  if (own >= share) {
    // PermissionDenied marks "this principal's share": evicting others' sessions must
    // not make room for it (the caller turns it into ResourceExhausted).
    return absl::PermissionDeniedError(
        absl::StrFormat("this client holds its maximum of %d sessions on the worker", share));
  }
  if (static_cast<int32_t>(sessions_.size()) >= limits_.max_sessions) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("the worker holds its maximum of %d sessions", limits_.max_sessions));
  }
  if (kv_bytes_in_use_ + bytes > limits_.kv_budget_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "a session of %d bytes (KV cache for %d positions + scratch) does not fit the "
        "worker's memory budget: %d of %d bytes in use",
        bytes, max_context, kv_bytes_in_use_, limits_.kv_budget_bytes));
  }
  return absl::OkStatus();
}

bool Worker::EvictOldestDetachedLocked(const std::string* principal) {
  auto oldest = sessions_.end();
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    const Entry& e = it->second;
    if (e.attached || e.session == nullptr) continue;
    if (principal != nullptr && e.principal != *principal) continue;
    if (oldest == sessions_.end() || e.last_active < oldest->second.last_active) oldest = it;
  }
  if (oldest == sessions_.end()) return false;
  EraseLocked(std::string(oldest->first));
  return true;
}

int32_t Worker::EvictIdle() {
  absl::MutexLock lock(&mu_);
  return EvictIdleLocked();
}

WorkerStatus Worker::Status() const {
  const LlamaHparams& hp = model_->hparams();
  WorkerStatus status;
  status.model_id = model_->identity();
  status.n_layers = hp.n_layers;
  status.hidden_dim = hp.dim;
  status.first_layer = std::max(1, model_->layer_begin());
  for (CodecKind kind : kAllCodecKinds) {
    if (ValidateCodecDim(kind, hp.dim).ok()) status.codecs.push_back(kind);
  }
  status.max_sessions = limits_.max_sessions;
  status.max_context = MaxSessionContext(*model_, limits_);
  status.kv_budget_bytes = limits_.kv_budget_bytes;
  absl::MutexLock lock(&mu_);
  status.state = draining_ ? ServingState::kDraining : ServingState::kServing;
  status.sessions = static_cast<int32_t>(sessions_.size());
  for (const auto& [id, entry] : sessions_) status.attached_sessions += entry.attached ? 1 : 0;
  status.kv_bytes_in_use = kv_bytes_in_use_;
  return status;
}

absl::StatusOr<ProfileResult> Worker::Profile(const ProfileRequest& request,
                                              const ProfileCancelled& cancelled) {
  if (!profile_mu_.TryLock()) {
    return absl::ResourceExhaustedError("another profile is running; try again later");
  }
  absl::Cleanup unlock = [this] { profile_mu_.Unlock(); };
  if (request.context_positions > MaxSessionContext(*model_, limits_) ||
      request.prompt_chunk_positions > limits_.max_chunk_positions) {
    return absl::OutOfRangeError(
        absl::StrFormat("profile sizes (context %d, prompt chunk %d) exceed the limits (%d, %d)",
                        request.context_positions, request.prompt_chunk_positions,
                        MaxSessionContext(*model_, limits_), limits_.max_chunk_positions));
  }
  if (request.repetitions < 0 || request.repetitions > limits_.max_profile_repetitions) {
    return absl::InvalidArgumentError(
        absl::StrFormat("profile repetitions must be in [0, %d], got %d",
                        limits_.max_profile_repetitions, request.repetitions));
  }
  return ProfileLayers(*model_, request, scheduler_, cancelled);
}

void Worker::BeginDrain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

bool Worker::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

void Worker::Shutdown() {
  BeginDrain();
  scheduler_.Shutdown();
}

}  // namespace tandem::cloud
