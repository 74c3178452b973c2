// tandem-cloud: the split-inference worker. Flags are parsed here only, into validated
// config structs; then the model loads, the server starts, and one line
// "tandem-cloud listening on HOST:PORT" on stderr says it is serving. SIGTERM/SIGINT shut
// down gracefully (see CloudServer::Shutdown).
// `tandem-cloud --health-check HOST:PORT` is a probe instead: it asks a worker's
// grpc.health.v1 service (plaintext, the --health-listen port) and exits 0 if SERVING.
#include <algorithm>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cloud/cloud_metrics.h"
#include "cloud/cloud_server.h"
#include "cloud/health_probe.h"
#include "cloud/idle_reaper.h"
#include "cloud/worker.h"
#include "common/cli/flags.h"
#include "common/metrics/metrics_server.h"
#include "common/util/clock.h"
#include "common/util/host_port.h"
#include "common/util/status_macros.h"
#include "common/util/termination_signals.h"

namespace {

struct Flags {
  tandem::cloud::WorkerConfig worker;
  tandem::cloud::ServerConfig server;
  std::string metrics_address;
  double idle_timeout_seconds = 300;
  int64_t kv_budget_mib = 1024;
  double shutdown_grace_seconds = 10;
  double hello_timeout_seconds = 10;
  double stream_idle_timeout_seconds = 60;
  double batch_gather_ms = 2;
  // Probe mode.
  std::string health_check_target;
  std::string health_service;
  double health_timeout_seconds = 5;
};

using tandem::WithPort;

absl::Status Run(Flags& flags, const sigset_t& signals) {
  using namespace tandem::cloud;
  flags.worker.limits.idle_timeout = absl::Seconds(flags.idle_timeout_seconds);
  flags.worker.limits.kv_budget_bytes = flags.kv_budget_mib * (int64_t{1} << 20);
  flags.worker.batch_gather = absl::Milliseconds(flags.batch_gather_ms);
  flags.server.shutdown_grace = absl::Seconds(flags.shutdown_grace_seconds);
  flags.server.stream_deadlines.hello_timeout = absl::Seconds(flags.hello_timeout_seconds);
  flags.server.stream_deadlines.idle_timeout = absl::Seconds(flags.stream_idle_timeout_seconds);
  RETURN_IF_ERROR(flags.worker.Validate());
  RETURN_IF_ERROR(flags.server.Validate());
  if (flags.server.tls.insecure) {
    std::cerr << "tandem-cloud: WARNING: --insecure: the edge-cloud link is plaintext; hidden "
                 "states and tokens can be read and altered on the network\n";
  }
  const bool unauthenticated =
      flags.server.beyond_loopback() && !flags.server.authenticates_clients();
  if (unauthenticated) {
    std::cerr << "tandem-cloud: WARNING: --allow-unauthenticated: any client that reaches "
              << flags.server.listen_address << " can open sessions (no mutual TLS, no tokens)\n";
  }

  tandem::SystemClock clock;
  ASSIGN_OR_RETURN(std::unique_ptr<Worker> worker, Worker::Create(flags.worker, clock));
  if (auto one = worker->step_cost().Predict(1), sixteen = worker->step_cost().Predict(16);
      one.has_value() && sixteen.has_value()) {
    std::cerr << absl::StreamFormat(
        "tandem-cloud step cost (calibrated): 1 position %.1f ms, 16 positions %.1f ms\n",
        absl::ToDoubleMilliseconds(*one), absl::ToDoubleMilliseconds(*sixteen));
  }
  tandem::MetricsServer metrics_server;
  CloudMetrics metrics(metrics_server.registry());
  metrics.SetUnauthenticated(unauthenticated);
  if (!flags.metrics_address.empty()) {
    ASSIGN_OR_RETURN(int port, metrics_server.Start(flags.metrics_address));
    std::cerr << "tandem-cloud metrics on " << WithPort(flags.metrics_address, port)
              << "/metrics\n";
  }
  ASSIGN_OR_RETURN(std::unique_ptr<CloudServer> server,
                   CloudServer::Start(flags.server, *worker, metrics));
  IdleReaper reaper(*worker, std::clamp(flags.worker.limits.idle_timeout / 4, absl::Seconds(1),
                                        absl::Seconds(30)));
  if (server->health_port() != 0) {
    std::cerr << "tandem-cloud health (grpc.health.v1, plaintext) on "
              << WithPort(flags.server.health_listen_address, server->health_port()) << "\n";
  }
  std::cerr << "tandem-cloud listening on " << WithPort(flags.server.listen_address, server->port())
            << std::endl;

  const char* signal = tandem::WaitForTerminationSignal(signals);  // blocks
  std::cerr << "tandem-cloud: " << signal << ", shutting down\n";
  server->Shutdown();
  return absl::OkStatus();
}

// Probe mode: 0 if SERVING, 1 otherwise (the reason on stderr).
int HealthCheck(const Flags& flags) {
  absl::Status status = tandem::cloud::CheckGrpcHealth(
      flags.health_check_target, flags.health_service, grpc::InsecureChannelCredentials(),
      absl::Seconds(flags.health_timeout_seconds));
  if (!status.ok()) {
    std::cerr << "tandem-cloud: health check failed: " << status << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t signals = tandem::BlockTerminationSignals();
  Flags flags;
  tandem::cloud::WorkerLimits& limits = flags.worker.limits;
  tandem::ServerTlsOptions& tls = flags.server.tls;

  CLI::App app{"tandem-cloud: runs layers [K, N), the head and the sampler for edge sessions"};
  tandem::cli::AddModel(app, flags.worker.model_path,
                        "GGUF model (the whole model or a cloud shard)");
  // Required unless --health-check (checked by ServerConfig::Validate).
  tandem::cli::AddLoadMode(app, flags.worker.load_mode);
  app.add_option("--listen", flags.server.listen_address,
                 "HOST:PORT to serve gRPC on (port 0: any); required");
  app.add_option("--health-listen", flags.server.health_listen_address,
                 "HOST:PORT to serve only grpc.health.v1 on, in plaintext, for probes that "
                 "cannot do TLS (Kubernetes gRPC probes)");
  app.add_option("--metrics", flags.metrics_address, "HOST:PORT to serve Prometheus /metrics on");
  tandem::cli::AddThreads(app, flags.worker.threads);
  tandem::cli::AddBounded(app, "--calibration-repetitions", flags.worker.calibration_repetitions,
                          "Startup measurement of batch step costs for deadline admission: "
                          "passes per batch size (0: off)",
                          0, 100);
  app.add_option("--max-sessions", limits.max_sessions, "Sessions held at once")
      ->capture_default_str();
  tandem::cli::AddContext(app, limits.max_context, "KV-cache positions per session");
  app.add_option("--max-chunk-positions", limits.max_chunk_positions, "Positions per chunk")
      ->capture_default_str();
  tandem::cli::AddBounded(app, "--max-draft-tokens", limits.max_draft_tokens,
                          "Draft tokens an edge may send per chunk for speculative "
                          "verification (0: off)",
                          0, 256);
  app.add_option("--max-batch-positions", limits.max_batch_positions,
                 "Positions per scheduler batch: all sessions' decode steps and slices of "
                 "prompt chunks run through the layers together")
      ->capture_default_str();
  app.add_option("--batch-gather-ms", flags.batch_gather_ms,
                 "How long a batch may wait for the sessions the last batch answered to send "
                 "their next step, so that they run together (0: never wait)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--idle-timeout-seconds", flags.idle_timeout_seconds,
                 "How long a session whose stream dropped stays resumable")
      ->capture_default_str();
  app.add_option("--kv-budget-mib", flags.kv_budget_mib,
                 "Memory of all sessions: KV caches, scratch and logits")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--max-sessions-per-client", limits.max_sessions_per_principal,
                 "Sessions one client (token or certificate) may hold (0: --max-sessions)")
      ->capture_default_str();
  app.add_option("--hello-timeout-seconds", flags.hello_timeout_seconds,
                 "A new stream that sends no Hello for this long is cancelled")
      ->capture_default_str();
  app.add_option("--stream-idle-timeout-seconds", flags.stream_idle_timeout_seconds,
                 "A session's stream that sends nothing for this long is cancelled (the "
                 "session stays resumable)")
      ->capture_default_str();
  app.add_option("--max-concurrent-streams", flags.server.max_concurrent_streams,
                 "Streams per HTTP/2 connection")
      ->capture_default_str();
  app.add_option("--admin-principal", flags.server.admin_principals,
                 "Client allowed to call Profile (tandem-tune): a token's name from "
                 "--auth-tokens-file or \"cert:<subject>\"; repeatable. Without client "
                 "authentication anyone may");
  app.add_option("--shutdown-grace-seconds", flags.shutdown_grace_seconds,
                 "On SIGTERM, how long running steps may take to finish")
      ->capture_default_str();
  app.add_option("--tls-cert", tls.cert_file, "PEM certificate chain of this worker");
  app.add_option("--tls-key", tls.key_file, "PEM private key");
  app.add_option("--tls-client-ca", tls.client_ca_file,
                 "PEM CA: require client certificates signed by it (mutual TLS)");
  app.add_flag("--insecure", tls.insecure, "Plaintext gRPC (logs a warning)");
  app.add_option("--auth-tokens-file", flags.server.auth_tokens_file,
                 "Bearer tokens accepted, one per line (\"NAME:TOKEN\" names the device)");
  app.add_flag("--allow-unauthenticated", flags.server.allow_unauthenticated,
               "Serve a non-loopback address without mutual TLS or tokens (logs a warning, "
               "sets tandem_cloud_unauthenticated_listener)");
  app.add_option("--health-check", flags.health_check_target,
                 "Probe mode: ask grpc.health.v1 at HOST:PORT (plaintext, the --health-listen "
                 "port); exit 0 if SERVING, 1 otherwise");
  app.add_option("--health-service", flags.health_service,
                 "Probe mode: service to ask about (\"\": ready for new sessions; \"liveness\")");
  app.add_option("--health-timeout-seconds", flags.health_timeout_seconds, "Probe mode: deadline")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!flags.health_check_target.empty()) return HealthCheck(flags);

  return tandem::cli::ExitCode("tandem-cloud", Run(flags, signals));
}
