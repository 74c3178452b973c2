#include "tests/util/in_process_cloud_link.h"

#include <cstdlib>
#include <deque>
#include <iostream>
#include <utility>

#include "common/codec/crc32c.h"
#include "common/util/clock.h"
#include "common/util/status_macros.h"
#include "proto/protocol_version.h"

namespace tandem::testing_util {

// One attachment to a session of the worker, as the gRPC service holds it for a stream.
// The worker steps synchronously in Send; Receive hands out the tokens it sampled.
class InProcessCloudLink::Stream final : public edge::CloudStream {
 public:
  Stream(InProcessCloudLink& link, std::shared_ptr<cloud::Worker> worker, uint64_t epoch,
         cloud::Attachment attachment, edge::SessionReady ready)
      : link_(link),
        worker_(std::move(worker)),
        epoch_(epoch),
        attachment_(std::move(attachment)),
        ready_(std::move(ready)) {}

  // The stream ended: the session stays resumable (no-op once closed or taken over).
  ~Stream() override { worker_->Detach(attachment_); }

  const edge::SessionReady& ready() const override { return ready_; }

  absl::Status Send(const edge::HiddenChunk& chunk, absl::Time deadline) override {
    RETURN_IF_ERROR(broken_);
    link_.Record(chunk);
    bytes_.sent += static_cast<int64_t>(chunk.payload.size()) + 16;
    broken_ = Step(chunk);
    return broken_;
  }

  absl::StatusOr<SampledToken> Receive(absl::Time deadline) override {
    RETURN_IF_ERROR(broken_);
    if (absl::Status current = Current(); !current.ok()) {
      broken_ = current;
      return current;
    }
    if (tokens_.empty()) {
      return absl::DeadlineExceededError("in-process worker: no token was asked for");
    }
    if (absl::Status fault = link_.TakeToken(); !fault.ok()) {
      broken_ = fault;
      return fault;
    }
    SampledToken token = tokens_.front();
    tokens_.pop_front();
    bytes_.received += 8;
    return token;
  }

  absl::Status Close(absl::Time deadline) override {
    RETURN_IF_ERROR(link_.CheckEpoch(epoch_));
    RETURN_IF_ERROR(worker_->Close(attachment_));
    link_.CountClose();
    return absl::OkStatus();
  }

  edge::LinkBytes bytes() const override { return bytes_; }

 private:
  // OK while this stream's worker still runs and the session is attached to it.
  absl::Status Current() const {
    RETURN_IF_ERROR(link_.CheckEpoch(epoch_));
    return worker_->CheckAttached(attachment_);
  }

  absl::Status Step(const edge::HiddenChunk& chunk) {
    RETURN_IF_ERROR(link_.CheckEpoch(epoch_));
    ASSIGN_OR_RETURN(cloud::StepReply reply,
                     worker_->Step(attachment_, {.start_position = chunk.start_position,
                                                 .num_positions = chunk.num_positions,
                                                 .codec = chunk.codec,
                                                 .payload = chunk.payload,
                                                 .payload_crc32c = Crc32c(chunk.payload),
                                                 .sample = chunk.sample,
                                                 .draft_tokens = chunk.draft_tokens}));
    if (reply.token.has_value()) {
      tokens_.push_back(*std::move(reply.token));
    }
    return absl::OkStatus();
  }

  InProcessCloudLink& link_;
  const std::shared_ptr<cloud::Worker> worker_;
  const uint64_t epoch_;
  const cloud::Attachment attachment_;
  const edge::SessionReady ready_;
  std::deque<SampledToken> tokens_;
  absl::Status broken_;
  edge::LinkBytes bytes_;
};

InProcessCloudLink::InProcessCloudLink(InProcessCloudOptions options)
    : options_(std::move(options)) {
  std::shared_ptr<cloud::Worker> worker = StartWorker();
  absl::MutexLock lock(&mu_);
  worker_ = std::move(worker);
}

InProcessCloudLink::~InProcessCloudLink() = default;

std::shared_ptr<cloud::Worker> InProcessCloudLink::StartWorker() const {
  absl::StatusOr<std::unique_ptr<cloud::Worker>> worker = cloud::Worker::Create(
      {.model_path = options_.model_path, .threads = 1, .limits = options_.limits},
      SystemClock::Get());
  if (!worker.ok()) {
    std::cerr << "in-process worker: " << worker.status() << "\n";
    std::abort();
  }
  return std::move(*worker);
}

absl::StatusOr<std::unique_ptr<edge::CloudStream>> InProcessCloudLink::Open(
    const edge::SessionHello& hello, absl::Time deadline) {
  std::shared_ptr<cloud::Worker> worker;
  uint64_t epoch = 0;
  {
    absl::MutexLock lock(&mu_);
    ++opens_;
    last_hello_ = hello;
    RETURN_IF_ERROR(open_status_);
    worker = worker_;
    epoch = epoch_;
  }
  ASSIGN_OR_RETURN(cloud::Worker::Opened opened,
                   worker->Open({.protocol_version = wire::kProtocolVersion,
                                 .model_id = hello.model_id,
                                 .n_layers = hello.n_layers,
                                 .split_layer = hello.split_layer,
                                 .hidden_dim = hello.hidden_dim,
                                 .codec = hello.codec,
                                 .sampling = hello.sampling,
                                 .session_id = hello.session_id,
                                 .resume_position = hello.resume_position,
                                 .max_context = hello.max_context,
                                 .top_logprobs = hello.top_logprobs,
                                 .token_deadline = hello.token_deadline}));
  const cloud::OpenReply& reply = opened.reply;
  edge::SessionReady ready{.cached_positions = reply.cached_positions,
                           .max_chunk_positions = reply.max_chunk_positions,
                           .max_chunk_bytes = reply.max_chunk_bytes,
                           .codecs = reply.codecs,
                           .max_context = reply.max_context,
                           .max_top_logprobs = reply.max_top_logprobs,
                           .max_draft_tokens = reply.max_draft_tokens};
  {
    absl::MutexLock lock(&mu_);
    last_ready_ = ready;
  }
  return std::make_unique<Stream>(*this, std::move(worker), epoch, std::move(opened.attachment),
                                  std::move(ready));
}

absl::Status InProcessCloudLink::Probe(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return open_status_;
}

void InProcessCloudLink::SetOpenStatus(absl::Status status) {
  absl::MutexLock lock(&mu_);
  open_status_ = std::move(status);
}

void InProcessCloudLink::FailAfterTokens(int32_t tokens, std::optional<absl::Status> status) {
  absl::MutexLock lock(&mu_);
  tokens_left_ = tokens;
  token_fault_ = status.value_or(absl::DeadlineExceededError("in-process worker: no answer"));
  fault_once_ = false;
}

void InProcessCloudLink::FailOnce(int32_t tokens, absl::Status status) {
  absl::MutexLock lock(&mu_);
  tokens_left_ = tokens;
  token_fault_ = std::move(status);
  fault_once_ = true;
}

void InProcessCloudLink::Heal() {
  absl::MutexLock lock(&mu_);
  tokens_left_.reset();
}

void InProcessCloudLink::LoseSessions() {
  std::shared_ptr<cloud::Worker> fresh = StartWorker();
  absl::MutexLock lock(&mu_);
  worker_ = std::move(fresh);
  ++epoch_;
}

absl::Status InProcessCloudLink::TakeToken() {
  absl::MutexLock lock(&mu_);
  if (!tokens_left_.has_value()) return absl::OkStatus();
  if (*tokens_left_ == 0) {
    if (fault_once_) tokens_left_.reset();
    return token_fault_;
  }
  --*tokens_left_;
  return absl::OkStatus();
}

absl::Status InProcessCloudLink::CheckEpoch(uint64_t epoch) const {
  absl::MutexLock lock(&mu_);
  if (epoch != epoch_) return absl::UnavailableError("in-process worker: restarted");
  return absl::OkStatus();
}

void InProcessCloudLink::Record(const edge::HiddenChunk& chunk) {
  absl::MutexLock lock(&mu_);
  chunks_.push_back(chunk);
}

void InProcessCloudLink::CountClose() {
  absl::MutexLock lock(&mu_);
  ++closes_;
}

int32_t InProcessCloudLink::opens() const {
  absl::MutexLock lock(&mu_);
  return opens_;
}

int32_t InProcessCloudLink::closes() const {
  absl::MutexLock lock(&mu_);
  return closes_;
}

int32_t InProcessCloudLink::sessions() const {
  std::shared_ptr<cloud::Worker> worker;
  {
    absl::MutexLock lock(&mu_);
    worker = worker_;
  }
  return worker->Status().sessions;
}

std::optional<edge::SessionHello> InProcessCloudLink::last_hello() const {
  absl::MutexLock lock(&mu_);
  return last_hello_;
}

std::optional<edge::SessionReady> InProcessCloudLink::last_ready() const {
  absl::MutexLock lock(&mu_);
  return last_ready_;
}

std::vector<edge::HiddenChunk> InProcessCloudLink::chunks() const {
  absl::MutexLock lock(&mu_);
  return chunks_;
}

}  // namespace tandem::testing_util
