#include "cloud/split_inference_service.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "cloud/proto_convert.h"
#include "common/util/status_macros.h"
#include "grpc/grpc_security_constants.h"

namespace tandem::cloud {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::Status ShuttingDown() {
  return absl::UnavailableError("the worker is shutting down; resume elsewhere");
}

}  // namespace

SplitInferenceService::SplitInferenceService(Worker& worker, CloudMetrics& metrics,
                                             ServiceOptions options)
    : worker_(worker),
      metrics_(metrics),
      tokens_(std::move(options.tokens)),
      deadlines_(options.deadlines),
      profile_gate_(std::move(options.profile)),
      watchdog_([this] {
        // A tenth of the shorter deadline: a stream is cancelled at most 10% late.
        const absl::Duration period =
            std::clamp(std::min(deadlines_.hello_timeout, deadlines_.idle_timeout) / 10,
                       absl::Milliseconds(10), absl::Seconds(1));
        while (!stop_watchdog_.WaitForNotificationWithTimeout(period)) CancelSilentStreams();
      }) {}

SplitInferenceService::~SplitInferenceService() {
  stop_watchdog_.Notify();
  watchdog_.join();
}

absl::StatusOr<std::string> SplitInferenceService::Authenticate(
    const grpc::ServerContextBase& context) const {
  if (tokens_.has_value()) {
    const auto& metadata = context.client_metadata();
    auto it = metadata.find(wire::kAuthorizationKey);
    if (it == metadata.end()) {
      return absl::UnauthenticatedError("this worker requires \"authorization: Bearer <token>\"");
    }
    return tokens_->Authenticate(std::string_view(it->second.data(), it->second.size()));
  }
  // Mutual TLS: gRPC has verified the certificate against the client CA already.
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property : {GRPC_X509_SUBJECT_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME}) {
      std::vector<grpc::string_ref> values = auth->FindPropertyValues(property);
      if (!values.empty()) return "cert:" + std::string(values[0].data(), values[0].size());
    }
  }
  return std::string();  // nobody is authenticated: one anonymous principal
}

void SplitInferenceService::CancelSilentStreams() {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&streams_mu_);
  for (auto& [context, state] : streams_) {
    const StreamVerdict verdict = JudgeStream(state, now, deadlines_);
    if (verdict == StreamVerdict::kKeep) continue;
    metrics_.RecordStreamEvicted(verdict == StreamVerdict::kNoHello ? "hello" : "idle");
    state.idle = false;  // cancelled once; Read returns and the stream unregisters
    context->TryCancel();
  }
}

grpc::Status SplitInferenceService::Finish(const absl::Status& status) {
  if (!status.ok()) metrics_.RecordError(status.code());
  return ToGrpcStatus(status);
}

absl::Status SplitInferenceService::Write(Stream& stream, const v1::CloudMessage& message) {
  if (!stream.Write(message)) return absl::CancelledError("the edge closed the stream");
  metrics_.AddSentBytes(message.ByteSizeLong());
  return absl::OkStatus();
}

bool SplitInferenceService::MarkIdle(grpc::ServerContext* context) {
  absl::MutexLock lock(&streams_mu_);
  if (shutting_down_) return false;
  StreamState& state = streams_[context];  // a new stream: waiting for its Hello
  state.idle = true;
  state.idle_since = absl::Now();
  return true;
}

void SplitInferenceService::MarkBusy(grpc::ServerContext* context, bool hello_done) {
  absl::MutexLock lock(&streams_mu_);
  StreamState& state = streams_[context];
  state.idle = false;
  state.hello_done = hello_done;
}

void SplitInferenceService::Unregister(grpc::ServerContext* context) {
  absl::MutexLock lock(&streams_mu_);
  streams_.erase(context);
}

void SplitInferenceService::BeginShutdown() {
  absl::MutexLock lock(&streams_mu_);
  shutting_down_ = true;
}

void SplitInferenceService::AwaitNoIdleStreams(absl::Duration timeout) {
  auto none_idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(streams_mu_) {
    for (const auto& [context, state] : streams_) {
      if (state.idle) return false;
    }
    return true;
  };
  absl::MutexLock lock(&streams_mu_);
  streams_mu_.AwaitWithTimeout(absl::Condition(&none_idle), timeout);
}

int SplitInferenceService::idle_streams() {
  absl::MutexLock lock(&streams_mu_);
  int n = 0;
  for (const auto& [context, state] : streams_) n += state.idle ? 1 : 0;
  return n;
}

void SplitInferenceService::CancelIdleStreams() {
  absl::MutexLock lock(&streams_mu_);
  for (auto& [context, state] : streams_) {
    if (state.idle) context->TryCancel();
  }
}

grpc::Status SplitInferenceService::Generate(grpc::ServerContext* context, Stream* stream) {
  absl::Cleanup unregister = [this, context] { Unregister(context); };
  return Finish(ServeStream(*context, *stream));
}

absl::Status SplitInferenceService::ServeStream(grpc::ServerContext& context, Stream& stream) {
  ASSIGN_OR_RETURN(std::string principal, Authenticate(context));
  v1::EdgeMessage message;
  if (!MarkIdle(&context)) return ShuttingDown();
  if (!stream.Read(&message)) {
    if (context.IsCancelled()) {
      return absl::DeadlineExceededError("no Hello within the worker's hello timeout");
    }
    return absl::OkStatus();  // closed before saying anything
  }
  MarkBusy(&context, /*hello_done=*/true);
  metrics_.AddReceivedBytes(message.ByteSizeLong());
  if (message.kind_case() != v1::EdgeMessage::kHello) {
    return absl::InvalidArgumentError("the first message of a stream must be a Hello");
  }
  ASSIGN_OR_RETURN(OpenRequest request, OpenRequestFromProto(message.hello()));
  request.principal = std::move(principal);
  absl::StatusOr<Worker::Opened> open = worker_.Open(request);
  if (!open.ok()) {
    if (auto reason = open.status().GetPayload(kAdmissionRefusalUrl); reason.has_value()) {
      metrics_.RecordRefusal(std::string(*reason));
    }
    return open.status();
  }
  Worker::Opened& opened = *open;
  metrics_.StreamAttached();
  if (!opened.reply.resumed) metrics_.RecordSessionOpened(CodecKindName(request.codec));
  absl::Cleanup detach = [&] {
    worker_.Detach(opened.attachment);
    metrics_.StreamDetached();
  };

  v1::CloudMessage reply;
  for (const absl::Status& notice : opened.reply.notices) {
    NoticeToProto(notice, reply.mutable_error());
    RETURN_IF_ERROR(Write(stream, reply));
  }
  ReadyToProto(opened.reply, reply.mutable_ready());
  RETURN_IF_ERROR(Write(stream, reply));
  return ServeSession(context, stream, opened.attachment);
}

absl::Status SplitInferenceService::ServeSession(grpc::ServerContext& context, Stream& stream,
                                                 const Attachment& attachment) {
  v1::EdgeMessage message;
  v1::CloudMessage reply;
  for (;;) {
    if (!MarkIdle(&context)) return ShuttingDown();
    if (!stream.Read(&message)) return absl::OkStatus();  // half-closed: session detaches
    MarkBusy(&context, /*hello_done=*/true);
    const auto start = std::chrono::steady_clock::now();
    metrics_.AddReceivedBytes(message.ByteSizeLong());
    switch (message.kind_case()) {
      case v1::EdgeMessage::kChunk: {
        ASSIGN_OR_RETURN(ChunkRequest chunk, ChunkRequestFromProto(message.chunk()));
        ASSIGN_OR_RETURN(StepReply step, worker_.Step(attachment, chunk));
        if (step.token.has_value()) {
          TokenToProto(*step.token, reply.mutable_token());
          RETURN_IF_ERROR(Write(stream, reply));
        }
        metrics_.RecordStep(chunk.num_positions, step.token.has_value(), SecondsSince(start));
        metrics_.RecordScheduling(step.timing);
        break;
      }
      case v1::EdgeMessage::kTruncate:
        RETURN_IF_ERROR(worker_.Truncate(attachment, message.truncate().position()));
        break;
      case v1::EdgeMessage::kClose:
        return worker_.Close(attachment);
      case v1::EdgeMessage::kHello:
        return absl::InvalidArgumentError("Hello is only valid as the first message of a stream");
      default:
        return absl::UnimplementedError(
            absl::StrFormat("unknown EdgeMessage kind %d", static_cast<int>(message.kind_case())));
    }
    if (worker_.draining()) return ShuttingDown();
  }
}

grpc::ServerUnaryReactor* SplitInferenceService::Health(grpc::CallbackServerContext* context,
                                                        const v1::HealthRequest* request,
                                                        v1::HealthResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status auth = Authenticate(*context).status(); !auth.ok()) {
    reactor->Finish(Finish(auth));
    return reactor;
  }
  StatusToProto(worker_.Status(), response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::Status SplitInferenceService::Profile(grpc::ServerContext* context,
                                            const v1::ProfileRequest* request,
                                            v1::ProfileResponse* response) {
  absl::StatusOr<std::string> principal = Authenticate(*context);
  if (!principal.ok()) return Finish(principal.status());
  if (absl::Status admitted = profile_gate_.Admit(*principal, absl::Now()); !admitted.ok()) {
    return Finish(admitted);
  }
  absl::StatusOr<ProfileResult> result = worker_.Profile(
      ProfileRequestFromProto(*request), [context] { return context->IsCancelled(); });
  if (!result.ok()) return Finish(result.status());
  ProfileToProto(*result, response);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* SplitInferenceService::Echo(grpc::CallbackServerContext* context,
                                                      const v1::EchoRequest* request,
                                                      v1::EchoResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status auth = Authenticate(*context).status(); !auth.ok()) {
    reactor->Finish(Finish(auth));
    return reactor;
  }
  const int64_t limit = worker_.limits().max_echo_bytes;
  if (static_cast<int64_t>(request->payload().size()) > limit || request->response_bytes() < 0 ||
      request->response_bytes() > limit) {
    reactor->Finish(Finish(absl::InvalidArgumentError(
        absl::StrFormat("echo sizes (payload %d, response %d bytes) must be within [0, %d]",
                        request->payload().size(), request->response_bytes(), limit))));
    return reactor;
  }
  response->mutable_payload()->assign(static_cast<size_t>(request->response_bytes()), '\x5a');
  response->set_server_seconds(SecondsSince(start));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace tandem::cloud
