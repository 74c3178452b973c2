#include "edge/grpc_cloud_stream.h"

#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/util/status_macros.h"
#include "edge/wire_convert.h"
#include "grpcpp/support/client_callback.h"
#include "proto/wire.h"

namespace tandem::edge {

namespace pb = ::tandem::v1;

// The reactor's callbacks run on gRPC threads; the methods without "On" run on the
// caller's thread. A hold keeps gRPC from finishing the call (OnDone) while the caller may
// still start operations; it is released once the caller is done with the stream.
class GrpcCloudStream::Reactor final
    : public grpc::ClientBidiReactor<pb::EdgeMessage, pb::CloudMessage> {
 public:
  Reactor(const std::string& auth_token, const Clock& clock) : clock_(clock) {
    wire::AddBearerToken(auth_token, context_);
  }

  void Start(pb::SplitInference::Stub& stub) {
    stub.async()->Generate(&context_, this);
    AddHold();
    StartRead(&incoming_);
    StartCall();
  }

  // Waits (until `deadline`) for the previous write to finish, then starts this one.
  absl::Status Write(pb::EdgeMessage message, absl::Time deadline, bool last) {
    bool ended = false;
    {
      absl::MutexLock lock(&mu_);
      const auto can_write = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !write_pending_ || broken_;
      };
      if (!clock_.AwaitWithDeadline(mu_, absl::Condition(&can_write), deadline)) {
        return absl::DeadlineExceededError("cloud: the link did not take a message in time");
      }
      ended = broken_ || hold_released_;
      if (!ended) {
        bytes_.sent += static_cast<int64_t>(message.ByteSizeLong());
        outgoing_ = std::move(message);
        write_pending_ = true;
      }
    }
    // The call already ended (e.g. a draining worker's UNAVAILABLE): report the worker's
    // status, not just that the stream is gone.
    if (ended) return EndStatus(deadline);
    if (last) {
      StartWriteLast(&outgoing_, grpc::WriteOptions());
    } else {
      StartWrite(&outgoing_);
    }
    return absl::OkStatus();
  }

  // The next message from the worker, or the status the stream ended with.
  absl::StatusOr<pb::CloudMessage> Read(absl::Time deadline) {
    {
      absl::MutexLock lock(&mu_);
      const auto readable = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !inbox_.empty() || read_closed_;
      };
      if (!clock_.AwaitWithDeadline(mu_, absl::Condition(&readable), deadline)) {
        return absl::DeadlineExceededError("cloud: no answer within the step deadline");
      }
      if (!inbox_.empty()) {
        pb::CloudMessage message = std::move(inbox_.front());
        inbox_.pop_front();
        return message;
      }
    }
    return EndStatus(deadline);
  }

  // After the read side closed: the call's final status (never OK: the caller wanted more).
  absl::Status EndStatus(absl::Time deadline) {
    ReleaseHold();
    if (!clock_.WaitForNotificationWithDeadline(done_, deadline)) {
      return absl::DeadlineExceededError("cloud: the stream did not end in time");
    }
    absl::MutexLock lock(&mu_);
    if (status_.ok()) return absl::UnavailableError("cloud: the worker ended the stream");
    return StatusFromGrpc(status_);
  }

  // Waits for the call to end by itself (after Close); cancels it at the deadline.
  absl::Status Finish(absl::Time deadline) {
    ReleaseHold();
    if (!clock_.WaitForNotificationWithDeadline(done_, deadline)) {
      context_.TryCancel();
      return absl::DeadlineExceededError("cloud: the worker did not end the stream in time");
    }
    absl::MutexLock lock(&mu_);
    return StatusFromGrpc(status_);
  }

  void CancelAndWait() {
    context_.TryCancel();
    ReleaseHold();
    done_.WaitForNotification();
  }

  LinkBytes bytes() const {
    absl::MutexLock lock(&mu_);
    return bytes_;
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      read_closed_ = true;
      broken_ = true;
      return;
    }
    pb::CloudMessage message = std::move(incoming_);
    incoming_.Clear();
    {
      absl::MutexLock lock(&mu_);
      bytes_.received += static_cast<int64_t>(message.ByteSizeLong());
      inbox_.push_back(std::move(message));
    }
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_pending_ = false;
    if (!ok) broken_ = true;
  }

  void OnDone(const grpc::Status& status) override {
    {
      absl::MutexLock lock(&mu_);
      status_ = status;
      read_closed_ = true;
      broken_ = true;
    }
    done_.Notify();  // last touch: the owner may delete this reactor right after
  }

 private:
  void ReleaseHold() {
    {
      absl::MutexLock lock(&mu_);
      if (hold_released_) return;
      hold_released_ = true;
    }
    RemoveHold();  // may run OnDone inline: not under mu_
  }

  const Clock& clock_;  // the deadlines' clock
  grpc::ClientContext context_;
  pb::CloudMessage incoming_;  // owned by gRPC between StartRead and OnReadDone
  pb::EdgeMessage outgoing_;   // owned by gRPC between StartWrite and OnWriteDone
  absl::Notification done_;
  mutable absl::Mutex mu_;
  std::deque<pb::CloudMessage> inbox_ ABSL_GUARDED_BY(mu_);
  bool write_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  LinkBytes bytes_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<CloudStream>> GrpcCloudStream::Open(pb::SplitInference::Stub& stub,
                                                                   const std::string& auth_token,
                                                                   const Clock& clock,
                                                                   const SessionHello& hello,
                                                                   absl::Time deadline) {
  auto reactor = std::make_unique<Reactor>(auth_token, clock);
  reactor->Start(stub);
  // From here on the destructor cancels the call on any early return.
  auto stream = std::unique_ptr<GrpcCloudStream>(new GrpcCloudStream(std::move(reactor)));
  pb::EdgeMessage message;
  HelloToProto(hello, message.mutable_hello());
  RETURN_IF_ERROR(stream->reactor_->Write(std::move(message), deadline, /*last=*/false));
  while (true) {
    ASSIGN_OR_RETURN(pb::CloudMessage reply, stream->reactor_->Read(deadline));
    if (reply.has_ready()) {
      stream->ready_ = ReadyFromProto(reply.ready());
      return stream;
    }
    // Non-terminal Errors (e.g. a clamped parameter) and unknown kinds: nothing to do.
  }
}

GrpcCloudStream::GrpcCloudStream(std::unique_ptr<Reactor> reactor) : reactor_(std::move(reactor)) {}

GrpcCloudStream::~GrpcCloudStream() { reactor_->CancelAndWait(); }

absl::Status GrpcCloudStream::Send(const HiddenChunk& chunk, absl::Time deadline) {
  pb::EdgeMessage message;
  ChunkToProto(chunk, message.mutable_chunk());
  return reactor_->Write(std::move(message), deadline, /*last=*/false);
}

absl::StatusOr<SampledToken> GrpcCloudStream::Receive(absl::Time deadline) {
  while (true) {
    ASSIGN_OR_RETURN(pb::CloudMessage reply, reactor_->Read(deadline));
    if (reply.has_token()) return TokenFromProto(reply.token());
    // Errors are non-terminal notices; a second Ready or unknown kinds are ignored.
  }
}

absl::Status GrpcCloudStream::Close(absl::Time deadline) {
  pb::EdgeMessage message;
  message.mutable_close();
  RETURN_IF_ERROR(reactor_->Write(std::move(message), deadline, /*last=*/true));
  return reactor_->Finish(deadline);
}

LinkBytes GrpcCloudStream::bytes() const { return reactor_->bytes(); }

}  // namespace tandem::edge
