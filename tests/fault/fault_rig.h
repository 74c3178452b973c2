// The fault-injection rig: a real tandem-cloud worker (core + gRPC server with TLS, in
// process, on 127.0.0.1) behind a FaultProxy, a real edge (EdgeModel, GrpcCloudLink to
// the proxy, the fallback model) and a ResilientGenerator over it, all on the embedded
// model. The worker can be killed (its sessions are lost) and started again on a new port
// behind the same proxy address, as a restarted container behind a stable service name.
//
// FaultInjector applies a seeded random schedule of mixed faults on its own thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cloud/cloud_metrics.h"
#include "cloud/cloud_server.h"
#include "cloud/worker.h"
#include "common/util/thread_pool.h"
#include "edge/edge_metrics.h"
#include "edge/edge_model.h"
#include "edge/fallback_model.h"
#include "edge/grpc_cloud_link.h"
#include "edge/resilient_generator.h"
#include "prometheus/registry.h"
#include "tests/fault/fault_proxy.h"
#include "tests/unit/cloud/fake_clock.h"
#include "tests/unit/cloud/test_certs.h"

namespace tandem::fault {

struct RigOptions {
  int32_t split = 2;
  CodecKind codec = CodecKind::kF32;
  bool fallback = true;
  int32_t max_context = 256;
  // Short deadlines so that a hundred faults take seconds, not minutes.
  absl::Duration step_deadline_floor = absl::Milliseconds(50);
  absl::Duration step_timeout = absl::Seconds(2);
  absl::Duration open_timeout = absl::Seconds(1);
  absl::Duration keepalive = absl::Milliseconds(200);  // edge pings; timeout the same
  edge::ReconnectOptions reconnect = [] {
    edge::ReconnectOptions r;
    r.initial_backoff = absl::Milliseconds(20);
    r.max_backoff = absl::Milliseconds(300);
    r.open_timeout = absl::Milliseconds(300);
    r.give_up_after = absl::Seconds(20);
    return r;
  }();
  bool quiet = true;    // drop the warning lines (they are counted)
  bool direct = false;  // the edge talks to the worker without the proxy (no faults)
  // The edge's generator on a SettlingClock: a reconnect attempt is waited for at the next
  // token boundary, so switch-back points are deterministic (the catch-up measurement).
  bool settle_attempts = false;
  // Speculative decoding (drafting with the fallback model unless it names a draft).
  edge::SpeculationOptions speculation;
};

class FaultRig {
 public:
  static absl::StatusOr<std::unique_ptr<FaultRig>> Create(const RigOptions& options);
  ~FaultRig();

  // Kills the worker (every session is lost; streams end). Then StartWorker() brings up a
  // new one on a new port and points the proxy at it.
  void KillWorker();
  absl::Status StartWorker();

  FaultProxy& proxy() { return *proxy_; }
  edge::ResilientGenerator& generator() { return *generator_; }
  const edge::EdgeModel& edge_model() const { return *edge_; }
  const LlamaModel& full_model() const { return *full_; }
  prometheus::Registry& edge_registry() { return edge_registry_; }
  // The parts, for building other generators over the same link (benchmarks).
  edge::GrpcCloudLink& link() { return *link_; }
  edge::EdgeMetrics& edge_metrics() { return *edge_metrics_; }
  const edge::FallbackModel* fallback() const { return fallback_.get(); }
  ThreadPool& pool() { return *pool_; }
  const RigOptions& options() const { return options_; }
  int64_t warnings() const { return warnings_.load(); }
  int32_t restarts() const { return restarts_; }

  // Greedy (or `sampling`) tokens of the unsplit model for `prompt`: the reference.
  std::vector<int32_t> Reference(const std::string& prompt, int32_t n,
                                 const SamplingParams& sampling) const;

 private:
  FaultRig() = default;

  RigOptions options_;
  cloud::CertPaths certs_;
  std::string cert_dir_;
  SystemClock cloud_clock_;
  absl::Mutex worker_mu_;  // KillWorker / StartWorker from the injector thread
  std::unique_ptr<prometheus::Registry> cloud_registry_;
  std::unique_ptr<cloud::CloudMetrics> cloud_metrics_;
  std::unique_ptr<cloud::Worker> worker_;
  std::unique_ptr<cloud::CloudServer> server_;
  int32_t restarts_ = 0;
  std::unique_ptr<FaultProxy> proxy_;

  std::unique_ptr<LlamaModel> full_;
  std::unique_ptr<edge::EdgeModel> edge_;
  std::unique_ptr<edge::FallbackModel> fallback_;
  std::unique_ptr<edge::GrpcCloudLink> link_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Clock> edge_clock_;  // SystemClock, or SettlingClock if settle_attempts
  prometheus::Registry edge_registry_;
  std::unique_ptr<edge::EdgeMetrics> edge_metrics_;
  std::unique_ptr<edge::ResilientGenerator> generator_;
  std::atomic<int64_t> warnings_{0};
};

enum class FaultKind { kCut, kBlackhole, kRestart, kLatencySpike, kLoss };
const char* FaultKindName(FaultKind kind);

struct InjectorOptions {
  int32_t faults = 100;
  uint64_t seed = 1;
  absl::Duration min_gap = absl::Milliseconds(50);  // healthy time between faults
  absl::Duration max_gap = absl::Milliseconds(250);
  absl::Duration min_duration = absl::Milliseconds(100);  // of black holes, spikes, loss
  absl::Duration max_duration = absl::Milliseconds(300);
  std::vector<FaultKind> kinds = {FaultKind::kCut, FaultKind::kBlackhole, FaultKind::kRestart,
                                  FaultKind::kLatencySpike, FaultKind::kLoss};
  bool verbose = false;  // a line per fault on stderr
};

// Applies `options.faults` faults at random times on its own thread.
class FaultInjector {
 public:
  FaultInjector(FaultRig& rig, const InjectorOptions& options);
  ~FaultInjector();  // stops early if still running; heals everything

  bool done() const { return done_.load(); }
  // Faults applied so far, by kind.
  std::vector<int32_t> counts() const;
  absl::Status status() const;  // a worker restart that failed

 private:
  void Run();

  FaultRig& rig_;
  const InjectorOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  mutable absl::Mutex mu_;
  std::vector<int32_t> counts_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace tandem::fault
