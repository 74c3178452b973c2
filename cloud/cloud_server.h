// The worker's gRPC server: credentials (TLS by default), message size limits from the
// worker's limits, keepalive so dead edges are noticed, and graceful shutdown.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cloud/cloud_metrics.h"
#include "cloud/split_inference_service.h"
#include "cloud/stream_deadlines.h"
#include "cloud/worker.h"
#include "common/net/tls.h"
#include "grpcpp/server.h"

namespace tandem::cloud {

struct ServerConfig {
  std::string listen_address;    // "host:port"; port 0 picks a free port
  ServerTlsOptions tls;          // TLS unless tls.insecure
  std::string auth_tokens_file;  // non-empty: bearer tokens required (bearer_auth.h)
  // Serve beyond loopback without mutual TLS or tokens (refused otherwise: any host that
  // reaches the port could use the worker and read other sessions' traffic patterns).
  bool allow_unauthenticated = false;
  // Hello and idle deadlines of streams (stream_deadlines.h).
  StreamDeadlines stream_deadlines;
  // Principals (token names, "cert:<subject>") allowed to call Profile; see profile_gate.h.
  std::vector<std::string> admin_principals;
  // Streams one HTTP/2 connection may have open at once (more wait on the client), and
  // how long a connection may live / stay without calls before the server ends it
  // gracefully (clients reconnect; edges resume their sessions).
  int32_t max_concurrent_streams = 32;
  absl::Duration max_connection_idle = absl::Minutes(10);
  absl::Duration max_connection_age = absl::Hours(2);
  absl::Duration max_connection_age_grace = absl::Minutes(5);
  // Threads for streams waiting for their Hello, beyond one per session: a burst of new
  // or idle connections waits for the hello deadline instead of exhausting the server.
  int32_t pending_stream_threads = 128;
  // The server pings a connection after keepalive_time without traffic and drops it if
  // no answer comes within keepalive_timeout: a vanished edge (power loss, NAT timeout)
  // frees its stream thread and its session starts the idle countdown.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Edges may ping this often (they detect a dead worker faster than the server does).
  absl::Duration min_client_ping_interval = absl::Seconds(5);
  // Graceful shutdown waits this long for streams to finish their step.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // ... of which at most this long for streams waiting for their next message, so that
  // an edge mid-generation gets its next token and then UNAVAILABLE (a clear "resume
  // elsewhere") instead of a cancelled stream.
  absl::Duration drain_idle_wait = absl::Seconds(2);
  // Non-empty: also serve the standard health service (grpc.health.v1.Health), and
  // nothing else, in plaintext on this "host:port", for probes that cannot do TLS
  // (Kubernetes' gRPC probes, container health checks). The main port serves it too.
  std::string health_listen_address;

  absl::Status Validate() const;
  // True if clients must authenticate: mutual TLS (a client CA) or bearer tokens.
  bool authenticates_clients() const;
  // True if the listener is reachable beyond this machine.
  bool beyond_loopback() const;
};

// Service names in grpc.health.v1.Health. "" (the whole server) and kSplitInferenceService
// are SERVING while new sessions are accepted and NOT_SERVING from the start of a drain
// (readiness); kLivenessService stays SERVING until the server is gone (a drain is not a
// failure, so liveness probes must not restart a draining worker).
inline constexpr char kSplitInferenceService[] = "tandem.v1.SplitInference";
inline constexpr char kLivenessService[] = "liveness";

// Bytes a message may add to its largest payload (other fields, protobuf framing).
inline constexpr int64_t kMessageSlackBytes = 64 * 1024;

// The receive limit: the largest chunk payload or echo payload plus slack. Anything
// larger is refused by gRPC with RESOURCE_EXHAUSTED before it is parsed.
int64_t MaxReceiveMessageBytes(const Worker& worker);

class CloudServer {
 public:
  // Starts serving `worker`. Unavailable if the address cannot be bound; errors naming
  // the file for unreadable certificates or token files.
  static absl::StatusOr<std::unique_ptr<CloudServer>> Start(const ServerConfig& config,
                                                            Worker& worker, CloudMetrics& metrics);
  ~CloudServer();

  int port() const { return port_; }
  // The plaintext health port (0 if ServerConfig::health_listen_address was empty).
  int health_port() const { return health_port_; }
  // Streams waiting for their next message (see SplitInferenceService::idle_streams).
  int idle_streams() const { return service_->idle_streams(); }

  // Graceful: health turns NOT_SERVING (readiness) and new sessions are refused; streams
  // end with UNAVAILABLE (resume elsewhere) after their current or next step (see
  // SplitInferenceService::BeginShutdown); everything left is cancelled after the grace
  // period. Idempotent.
  void Shutdown();

 private:
  CloudServer(Worker& worker, absl::Duration grace, absl::Duration idle_wait)
      : worker_(worker), grace_(grace), idle_wait_(idle_wait) {}

  Worker& worker_;
  absl::Duration grace_;
  absl::Duration idle_wait_;
  std::unique_ptr<SplitInferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  // The health port's only other service: every method answers UNIMPLEMENTED. (A
  // sync server must have a sync service to start; the health service is not one.)
  std::unique_ptr<v1::SplitInference::Service> unimplemented_;
  std::unique_ptr<grpc::Server> health_server_;  // plaintext, health service only
  int port_ = 0;
  int health_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace tandem::cloud
