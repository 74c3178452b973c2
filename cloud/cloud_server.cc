#include "cloud/cloud_server.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/util/host_port.h"
#include "common/util/status_macros.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace tandem::cloud {
namespace {

int ClampToInt(int64_t v) { return static_cast<int>(std::min<int64_t>(v, INT32_MAX)); }
int Millis(absl::Duration d) { return ClampToInt(absl::ToInt64Milliseconds(d)); }

// Readiness: SERVING while new sessions are accepted.
void SetReady(grpc::Server* server, bool ready) {
  if (server == nullptr || server->GetHealthCheckService() == nullptr) return;
  grpc::HealthCheckServiceInterface& health = *server->GetHealthCheckService();
  health.SetServingStatus("", ready);
  health.SetServingStatus(kSplitInferenceService, ready);
}

void RegisterHealthNames(grpc::Server* server) {
  SetReady(server, true);
  if (server != nullptr && server->GetHealthCheckService() != nullptr) {
    server->GetHealthCheckService()->SetServingStatus(kLivenessService, true);
  }
}

}  // namespace

bool ServerConfig::authenticates_clients() const {
  return !auth_tokens_file.empty() || (!tls.insecure && !tls.client_ca_file.empty());
}

bool ServerConfig::beyond_loopback() const {
  absl::StatusOr<std::pair<std::string, int>> host_port = SplitHostPort(listen_address);
  return !host_port.ok() || !IsLoopbackHost(host_port->first);
}

absl::Status ServerConfig::Validate() const {
  if (listen_address.empty()) {
    return absl::InvalidArgumentError("no listen address given (--listen HOST:PORT)");
  }
  RETURN_IF_ERROR(SplitHostPort(listen_address).status());
  if (beyond_loopback() && !authenticates_clients() && !allow_unauthenticated) {
    return absl::FailedPreconditionError(
        absl::StrCat("refusing to serve ", listen_address,
                     " without client authentication: give --tls-client-ca (mutual TLS) or "
                     "--auth-tokens-file, listen on loopback, or accept the risk with "
                     "--allow-unauthenticated"));
  }
  if (!tls.insecure && (tls.cert_file.empty() || tls.key_file.empty())) {
    return absl::InvalidArgumentError(
        "TLS needs --tls-cert and --tls-key (or --insecure for plaintext)");
  }
  if (tls.insecure && !tls.client_ca_file.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs TLS (drop --insecure)");
  }
  RETURN_IF_ERROR(stream_deadlines.Validate());
  if (max_concurrent_streams < 1 || pending_stream_threads < 1 ||
      max_connection_idle <= absl::ZeroDuration() || max_connection_age <= absl::ZeroDuration() ||
      max_connection_age_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HTTP/2 connection limits must be positive");
  }
  if (keepalive_time <= absl::ZeroDuration() || keepalive_timeout <= absl::ZeroDuration() ||
      min_client_ping_interval <= absl::ZeroDuration() || shutdown_grace < absl::ZeroDuration() ||
      drain_idle_wait < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("keepalive and shutdown durations must be positive");
  }
  return absl::OkStatus();
}

int64_t MaxReceiveMessageBytes(const Worker& worker) {
  return std::max(worker.max_chunk_bytes(), worker.limits().max_echo_bytes) + kMessageSlackBytes;
}

absl::StatusOr<std::unique_ptr<CloudServer>> CloudServer::Start(const ServerConfig& config,
                                                                Worker& worker,
                                                                CloudMetrics& metrics) {
  RETURN_IF_ERROR(config.Validate());
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   MakeServerCredentials(config.tls));
  std::optional<BearerTokens> tokens;
  if (!config.auth_tokens_file.empty()) {
    ASSIGN_OR_RETURN(tokens, BearerTokens::FromFile(config.auth_tokens_file));
  }

  // The standard health service (grpc.health.v1.Health) on every server built from now
  // on: Kubernetes, load balancers and grpc_health_probe speak it. (A process-wide gRPC
  // switch; it only adds that service.)
  grpc::EnableDefaultHealthCheckService(true);

  std::unique_ptr<CloudServer> server(
      new CloudServer(worker, config.shutdown_grace, config.drain_idle_wait));
  ServiceOptions service_options{.tokens = std::move(tokens), .deadlines = config.stream_deadlines};
  service_options.profile.admin_principals = config.admin_principals;
  service_options.profile.open = !config.authenticates_clients();
  server->service_ =
      std::make_unique<SplitInferenceService>(worker, metrics, std::move(service_options));

  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(ClampToInt(MaxReceiveMessageBytes(worker)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(config.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Millis(config.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Keep pinging during a long, quiet stream (an edge idling between requests).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             Millis(config.min_client_ping_interval));
  // Keepalive enforcement: a client pinging more often than allowed gets GOAWAY after
  // two strikes.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  // HTTP/2 limits: streams per connection (bounds the calls one connection can start; the
  // gRPC 1.51 of Debian has no rapid-reset fix, see README), connection idle time and age.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, Millis(config.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, Millis(config.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Millis(config.max_connection_age_grace));
  // One sync-server thread per stream: bound them (sessions + streams waiting for their
  // Hello, which the hello deadline frees + Profile + pollers); streams beyond the bound
  // get RESOURCE_EXHAUSTED. Health and Echo are callback methods and need none of these.
  grpc::ResourceQuota quota("tandem-cloud");
  quota.SetMaxThreads(worker.limits().max_sessions + config.pending_stream_threads + 16);
  builder.SetResourceQuota(quota);

  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen_address));
  }
  RegisterHealthNames(server->server_.get());

  if (!config.health_listen_address.empty()) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(config.health_listen_address, grpc::InsecureServerCredentials(),
                                    &server->health_port_);
    server->unimplemented_ = std::make_unique<v1::SplitInference::Service>();
    health_builder.RegisterService(server->unimplemented_.get());
    server->health_server_ = health_builder.BuildAndStart();
    if (server->health_server_ == nullptr || server->health_port_ == 0) {
      server->server_->Shutdown();
      server->server_.reset();  // nothing to drain: the destructor then does nothing
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", config.health_listen_address, " (health port)"));
    }
    RegisterHealthNames(server->health_server_.get());
  }
  return server;
}

void CloudServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  SetReady(server_.get(), false);
  SetReady(health_server_.get(), false);
  const absl::Time deadline = absl::Now() + grace_;
  worker_.BeginDrain();
  service_->BeginShutdown();
  service_->AwaitNoIdleStreams(std::min(idle_wait_, grace_));
  service_->CancelIdleStreams();
  // Stops accepting; calls still running at the deadline are cancelled.
  server_->Shutdown(absl::ToChronoTime(deadline));
  server_->Wait();
  // Liveness answers until here: the drain above was not a failure.
  if (health_server_ != nullptr) {
    health_server_->Shutdown(absl::ToChronoTime(absl::Now()));
    health_server_->Wait();
  }
  worker_.Shutdown();
}

CloudServer::~CloudServer() {
  if (server_ != nullptr) Shutdown();
}

}  // namespace tandem::cloud
