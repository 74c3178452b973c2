#include "tests/fault/fault_rig.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/model/local_session.h"
#include "common/sampler/sampler.h"
#include "common/util/enum_names.h"
#include "common/util/status_macros.h"
#include "tests/util/unsplit_reference.h"

namespace tandem::fault {

absl::StatusOr<std::unique_ptr<FaultRig>> FaultRig::Create(const RigOptions& options) {
  auto rig = std::unique_ptr<FaultRig>(new FaultRig());
  rig->options_ = options;
  static std::atomic<int> instance{0};
  rig->cert_dir_ = (std::filesystem::temp_directory_path() /
                    absl::StrCat("tandem_fault_", getpid(), "_", instance++))
                       .string();
  RETURN_IF_ERROR(cloud::MakeDevCerts(rig->cert_dir_, &rig->certs_));
  RETURN_IF_ERROR(rig->StartWorker());
  ASSIGN_OR_RETURN(rig->proxy_, FaultProxy::Start(rig->server_->port()));

  ASSIGN_OR_RETURN(rig->full_, LlamaModel::Load(TANDEM_TEST_MODEL));
  ASSIGN_OR_RETURN(rig->edge_, edge::EdgeModel::Load(TANDEM_TEST_MODEL, options.split));
  if (options.fallback) {
    ASSIGN_OR_RETURN(rig->fallback_,
                     edge::FallbackModel::Load(TANDEM_TEST_MODEL, rig->edge_->tokenizer()));
  }
  if (options.settle_attempts) {
    rig->edge_clock_ = std::make_unique<cloud::SettlingClock>();
  } else {
    rig->edge_clock_ = std::make_unique<SystemClock>();
  }
  edge::GrpcLinkOptions link;
  link.clock = rig->edge_clock_.get();
  link.target =
      absl::StrCat("127.0.0.1:", options.direct ? rig->server_->port() : rig->proxy_->port());
  link.tls.ca_file = rig->certs_.ca;
  link.keepalive_time = options.keepalive;
  link.keepalive_timeout = options.keepalive;
  link.initial_reconnect_backoff = options.reconnect.initial_backoff;
  link.max_reconnect_backoff = options.reconnect.max_backoff;
  ASSIGN_OR_RETURN(rig->link_, edge::GrpcCloudLink::Create(link));
  rig->pool_ = std::make_unique<ThreadPool>(1);
  rig->edge_metrics_ = std::make_unique<edge::EdgeMetrics>(rig->edge_registry_, options.codec);
  edge::ResilienceOptions resilience;
  resilience.deadline.floor = options.step_deadline_floor;
  resilience.reconnect = options.reconnect;
  resilience.speculation = options.speculation;
  FaultRig* self = rig.get();
  resilience.warn = [self](std::string_view line) {
    ++self->warnings_;
    if (!self->options_.quiet) {
      fprintf(stderr, "%s tandem-edge: WARNING: %.*s\n",
              absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone()).c_str(),
              static_cast<int>(line.size()), line.data());
    }
  };
  ASSIGN_OR_RETURN(rig->generator_,
                   edge::ResilientGenerator::Create(
                       *rig->edge_, {{.name = link.target, .link = rig->link_.get()}},
                       rig->fallback_.get(), *rig->pool_, *rig->edge_clock_, *rig->edge_metrics_,
                       {.codec = options.codec,
                        .max_context = options.max_context,
                        .step_timeout = options.step_timeout,
                        .open_timeout = options.open_timeout},
                       resilience));
  return rig;
}

FaultRig::~FaultRig() {
  generator_.reset();
  link_.reset();
  proxy_.reset();
  KillWorker();
  std::error_code ignored;
  std::filesystem::remove_all(cert_dir_, ignored);
}

void FaultRig::KillWorker() {
  absl::MutexLock lock(&worker_mu_);
  server_.reset();  // graceful shutdown with a tiny grace: streams end at once
  worker_.reset();
  cloud_metrics_.reset();
  cloud_registry_.reset();
}

absl::Status FaultRig::StartWorker() {
  absl::MutexLock lock(&worker_mu_);
  cloud::WorkerConfig config{.model_path = TANDEM_TEST_MODEL, .threads = 1};
  ASSIGN_OR_RETURN(worker_, cloud::Worker::Create(config, cloud_clock_));
  cloud_registry_ = std::make_unique<prometheus::Registry>();
  cloud_metrics_ = std::make_unique<cloud::CloudMetrics>(*cloud_registry_);
  cloud::ServerConfig server;
  server.listen_address = "127.0.0.1:0";
  server.tls.cert_file = certs_.server_cert;
  server.tls.key_file = certs_.server_key;
  server.keepalive_time = absl::Seconds(1);
  server.keepalive_timeout = absl::Seconds(1);
  server.min_client_ping_interval = absl::Milliseconds(50);  // the edge pings every 200 ms
  server.shutdown_grace = absl::Milliseconds(1);
  ASSIGN_OR_RETURN(server_, cloud::CloudServer::Start(server, *worker_, *cloud_metrics_));
  if (proxy_ != nullptr) {
    proxy_->SetUpstream(server_->port());
    ++restarts_;
  }
  return absl::OkStatus();
}

std::vector<int32_t> FaultRig::Reference(const std::string& prompt, int32_t n,
                                         const SamplingParams& sampling) const {
  return ::tandem::testing_util::UnsplitTokens(*full_, edge_->tokenizer(), prompt, n,
                                               options_.max_context, sampling);
}

const char* FaultKindName(FaultKind kind) {
  static constexpr std::string_view kNames[] = {"cut", "blackhole", "restart", "latency", "loss"};
  return EnumName(kind, kNames, "?").data();  // the literals are NUL-terminated
}

FaultInjector::FaultInjector(FaultRig& rig, const InjectorOptions& options)
    : rig_(rig), options_(options), counts_(5, 0) {
  thread_ = std::thread([this] { Run(); });
}

FaultInjector::~FaultInjector() {
  stop_ = true;
  thread_.join();
  rig_.proxy().Heal();
}

std::vector<int32_t> FaultInjector::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

absl::Status FaultInjector::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

void FaultInjector::Run() {
  std::mt19937_64 rng(options_.seed);
  auto between = [&](absl::Duration lo, absl::Duration hi) {
    std::uniform_int_distribution<int64_t> us(absl::ToInt64Microseconds(lo),
                                              absl::ToInt64Microseconds(hi));
    return absl::Microseconds(us(rng));
  };
  // Sleeps in small steps so that the destructor does not wait long.
  auto pause = [&](absl::Duration d) {
    const absl::Time end = absl::Now() + d;
    while (!stop_ && absl::Now() < end) {
      absl::SleepFor(std::min(end - absl::Now(), absl::Milliseconds(10)));
    }
  };
  FaultProxy& proxy = rig_.proxy();
  for (int32_t i = 0; i < options_.faults && !stop_; ++i) {
    pause(between(options_.min_gap, options_.max_gap));
    const FaultKind kind = options_.kinds[rng() % options_.kinds.size()];
    const absl::Duration duration = between(options_.min_duration, options_.max_duration);
    if (options_.verbose) {
      fprintf(stderr, "%s fault %d: %s (%s)\n",
              absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone()).c_str(), i,
              FaultKindName(kind), absl::FormatDuration(duration).c_str());
    }
    switch (kind) {
      case FaultKind::kCut:
        proxy.Cut();
        break;
      case FaultKind::kBlackhole:
        proxy.SetBlackhole(true);
        pause(duration);
        proxy.SetBlackhole(false);
        break;
      case FaultKind::kRestart: {
        rig_.KillWorker();
        pause(between(absl::ZeroDuration(), options_.max_gap));
        absl::Status started = rig_.StartWorker();
        if (!started.ok()) {
          absl::MutexLock lock(&mu_);
          status_ = started;
          stop_ = true;
        }
        break;
      }
      case FaultKind::kLatencySpike:
        proxy.SetLatency(between(absl::Milliseconds(50), absl::Milliseconds(300)));
        pause(duration);
        proxy.SetLatency(absl::ZeroDuration());
        break;
      case FaultKind::kLoss:
        proxy.SetStalls(0.3, absl::Milliseconds(200));
        pause(duration);
        proxy.SetStalls(0, absl::ZeroDuration());
        break;
    }
    absl::MutexLock lock(&mu_);
    ++counts_[static_cast<int>(kind)];
  }
  done_ = true;
}

}  // namespace tandem::fault
