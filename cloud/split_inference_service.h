// The SplitInference gRPC service: translates stream messages and unary calls into worker
// calls (proto <-> domain types, absl::Status <-> grpc::Status) and records metrics. The
// sync API runs each stream on a gRPC thread; the number of threads is bounded by the
// server (see cloud_server.h), the number of sessions by the worker. Health and Echo use
// the callback API: they never wait for a stream thread, so idle or slow streams cannot
// make the worker look dead. Silent streams are cancelled (stream_deadlines.h) by a
// watchdog, which frees their threads.
//
// Every call is authenticated (bearer token or client certificate, when configured) into
// a principal; sessions belong to the principal that opened them (Worker::Open).
//
// Stream lifecycle: the first message must be Hello -> Ready (with any notices as Error
// messages before it); then HiddenChunk -> Token (when sampled), Truncate, Close. The
// stream ending without Close detaches the session, which stays resumable for the idle
// timeout. An error ends only its own stream, with the status code the proto documents.
#pragma once

#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cloud/bearer_auth.h"
#include "cloud/cloud_metrics.h"
#include "cloud/profile_gate.h"
#include "cloud/stream_deadlines.h"
#include "cloud/worker.h"
#include "tandem/v1/tandem.grpc.pb.h"

namespace tandem::cloud {

struct ServiceOptions {
  // If set, every call (Health included) must carry one of them, or it fails with
  // UNAUTHENTICATED before touching the worker; the token names the principal.
  std::optional<BearerTokens> tokens;
  // Without tokens, the principal is the verified client certificate's subject (mutual
  // TLS); with neither, every caller is the anonymous principal "".
  StreamDeadlines deadlines;
  ProfilePolicy profile;
};

using SplitInferenceBase = v1::SplitInference::WithCallbackMethod_Health<
    v1::SplitInference::WithCallbackMethod_Echo<v1::SplitInference::Service>>;

class SplitInferenceService final : public SplitInferenceBase {
 public:
  // `worker` and `metrics` must outlive the service.
  SplitInferenceService(Worker& worker, CloudMetrics& metrics, ServiceOptions options);
  ~SplitInferenceService() override;

  grpc::Status Generate(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::CloudMessage, v1::EdgeMessage>* stream) override;
  grpc::ServerUnaryReactor* Health(grpc::CallbackServerContext* context,
                                   const v1::HealthRequest* request,
                                   v1::HealthResponse* response) override;
  grpc::Status Profile(grpc::ServerContext* context, const v1::ProfileRequest* request,
                       v1::ProfileResponse* response) override;
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const v1::EchoRequest* request,
                                 v1::EchoResponse* response) override;

  // Graceful shutdown, in three calls. BeginShutdown: from now on every stream ends with
  // UNAVAILABLE (resume elsewhere) after its current step, or, if it is waiting for a
  // message, after the step of the next one (an edge mid-generation sends it within one
  // of its own steps), and new streams get UNAVAILABLE at once.
  void BeginShutdown();
  // Returns once no stream waits for a message, or after `timeout`.
  void AwaitNoIdleStreams(absl::Duration timeout);
  // Cancels the streams still waiting (edges holding a stream open without generating);
  // they see CANCELLED.
  void CancelIdleStreams();
  // Streams waiting for their next message (for tests: a drain then waits for them).
  int idle_streams();

 private:
  using Stream = grpc::ServerReaderWriter<v1::CloudMessage, v1::EdgeMessage>;
  // The caller's principal, or Unauthenticated.
  absl::StatusOr<std::string> Authenticate(const grpc::ServerContextBase& context) const;
  absl::Status ServeStream(grpc::ServerContext& context, Stream& stream);
  absl::Status ServeSession(grpc::ServerContext& context, Stream& stream,
                            const Attachment& attachment);
  absl::Status Write(Stream& stream, const v1::CloudMessage& message);
  // The gRPC status for `status`, counted in the error metric if not OK.
  grpc::Status Finish(const absl::Status& status);

  // Shutdown and deadline bookkeeping: a stream is idle while it waits in Read.
  bool MarkIdle(grpc::ServerContext* context);  // false: shutting down, stop reading
  void MarkBusy(grpc::ServerContext* context, bool hello_done);
  void Unregister(grpc::ServerContext* context);
  // Cancels streams past their deadline (runs on watchdog_).
  void CancelSilentStreams();

  Worker& worker_;
  CloudMetrics& metrics_;
  const std::optional<BearerTokens> tokens_;
  const StreamDeadlines deadlines_;
  ProfileGate profile_gate_;

  absl::Mutex streams_mu_;
  absl::flat_hash_map<grpc::ServerContext*, StreamState> streams_ ABSL_GUARDED_BY(streams_mu_);
  bool shutting_down_ ABSL_GUARDED_BY(streams_mu_) = false;
  absl::Notification stop_watchdog_;
  std::thread watchdog_;  // last: starts once the rest exists
};

}  // namespace tandem::cloud
