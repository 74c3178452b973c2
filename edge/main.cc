// tandem-edge: the edge daemon. Runs the embedding and layers [0, K) on this device and
// the rest on a cloud worker over gRPC. Two modes:
//   --prompt TEXT: one generation, the continuation on stdout (timings on stderr), exit;
//   otherwise: the OpenAI-compatible HTTP API on --listen (loopback by default) until
//   SIGTERM/SIGINT; one line "tandem-edge serving http://HOST:PORT" on stderr says it is up.
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/codec/codec_kind.h"
#include "common/metrics/metrics_server.h"
#include "common/net/tls.h"
#include "common/util/status_macros.h"
#include "edge/clock.h"
#include "edge/edge_metrics.h"
#include "edge/edge_model.h"
#include "edge/generation_pool.h"
#include "edge/grpc_cloud_link.h"
#include "edge/http_api.h"
#include "edge/split_generator.h"
#include "edge/tune/tuned_config.h"

namespace {

using namespace tandem::edge;

struct Flags {
  std::string config_path;  // tandem-tune's config; explicit flags override it
  std::string model_path = TANDEM_DEFAULT_MODEL;
  int32_t split = 0;
  std::string codec = "q8";
  GrpcLinkOptions link;
  std::string auth_token_file;
  std::string listen = "127.0.0.1:8080";
  std::string metrics_address;
  SplitOptions split_options;
  PoolOptions pool;
  ApiOptions api;
  double step_timeout_seconds = 10;
  // One-shot mode.
  bool one_shot = false;
  std::string prompt;
  int32_t n_predict = 16;
  tandem::SamplingParams sampling;
};

// (host, port) of "HOST:PORT"; InvalidArgument otherwise.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("expected HOST:PORT, got \"", address, "\""));
  }
  return std::make_pair(address.substr(0, colon), port);
}

sigset_t BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

absl::Status RunOnce(const Flags& flags, const EdgeModel& model, CloudLink& link,
                     const Clock& clock, EdgeMetrics& metrics) {
  tandem::ThreadPool pool(flags.pool.threads_per_slot);
  ASSIGN_OR_RETURN(std::unique_ptr<SplitGenerator> generator,
                   SplitGenerator::Create(model, link, pool, clock, metrics, flags.split_options));
  GenerationRequest request;
  request.prompt = flags.prompt;
  request.max_tokens = flags.n_predict;
  request.sampling = flags.sampling;
  const absl::Time start = clock.Now();
  absl::Time first_token;
  ASSIGN_OR_RETURN(GenerationResult result,
                   generator->Generate(request, [&](const GeneratedToken& token) {
                     if (first_token == absl::Time()) first_token = clock.Now();
                     std::cout << token.piece << std::flush;
                     return true;
                   }));
  const absl::Time end = clock.Now();
  std::cout << "\n" << std::flush;
  const double ttft = absl::ToDoubleSeconds(first_token - start);
  const double decode = absl::ToDoubleSeconds(end - first_token);
  const double wire_bytes = metrics.sent_bytes() + metrics.received_bytes();
  std::cerr << absl::StrFormat(
      "prompt: %d tokens, first token after %.3f s; generated: %d tokens in %.3f s (%.2f tok/s); "
      "finish: %s; link: %.0f bytes (%.0f per position)\n",
      result.prompt_tokens, ttft, result.completion_tokens, decode,
      result.completion_tokens > 1 ? (result.completion_tokens - 1) / decode : 0.0,
      FinishReasonName(result.finish_reason), wire_bytes,
      wire_bytes / std::max(1, result.prompt_tokens + result.completion_tokens - 1));
  return absl::OkStatus();
}

absl::Status Run(Flags& flags, const sigset_t& signals) {
  ASSIGN_OR_RETURN(flags.split_options.codec, tandem::ParseCodecKind(flags.codec));
  flags.split_options.step_timeout = absl::Seconds(flags.step_timeout_seconds);
  RETURN_IF_ERROR(flags.split_options.Validate());
  RETURN_IF_ERROR(flags.pool.Validate());
  RETURN_IF_ERROR(flags.api.Validate());
  RETURN_IF_ERROR(flags.sampling.Validate());
  ASSIGN_OR_RETURN(auto listen, SplitHostPort(flags.listen));
  if (!flags.auth_token_file.empty()) {
    ASSIGN_OR_RETURN(std::string token, tandem::ReadSmallFile(flags.auth_token_file, 4096));
    flags.link.auth_token = std::string(absl::StripAsciiWhitespace(token));
    if (flags.link.auth_token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the token file ", flags.auth_token_file, " is empty"));
    }
  }
  if (flags.link.tls.insecure) {
    std::cerr << "tandem-edge: WARNING: --insecure: the edge-cloud link is plaintext; hidden "
                 "states and tokens can be read and altered on the network\n";
  }

  ASSIGN_OR_RETURN(std::unique_ptr<EdgeModel> model,
                   EdgeModel::Load(flags.model_path, flags.split));
  ASSIGN_OR_RETURN(std::unique_ptr<GrpcCloudLink> link, GrpcCloudLink::Create(flags.link));
  SystemClock clock;
  tandem::MetricsServer metrics_server;
  EdgeMetrics metrics(metrics_server.registry(), flags.split_options.codec);
  if (!flags.metrics_address.empty()) {
    ASSIGN_OR_RETURN(int port, metrics_server.Start(flags.metrics_address));
    ASSIGN_OR_RETURN(auto metrics_listen, SplitHostPort(flags.metrics_address));
    std::cerr << "tandem-edge metrics on " << metrics_listen.first << ":" << port << "/metrics\n";
  }
  if (flags.one_shot) return RunOnce(flags, *model, *link, clock, metrics);

  ASSIGN_OR_RETURN(
      std::unique_ptr<GenerationPool> pool,
      GenerationPool::Create(*model, *link, clock, metrics, flags.split_options, flags.pool));
  HttpApi api(*model, *pool, *link, clock, metrics, flags.api);
  ASSIGN_OR_RETURN(int port, api.Start(listen.first, listen.second));
  std::cerr << "tandem-edge: model " << model->name() << ", layers [0, " << model->split()
            << ") of " << model->hparams().n_layers << " here, the rest on " << flags.link.target
            << ", codec " << flags.codec << "\n";
  std::cerr << "tandem-edge serving http://" << listen.first << ":" << port << std::endl;

  int signal = 0;
  sigwait(&signals, &signal);
  std::cerr << "tandem-edge: " << (signal == SIGTERM ? "SIGTERM" : "SIGINT") << ", shutting down\n";
  api.Stop();
  return absl::OkStatus();
}

// Takes split, codec, cloud and model from the tuner's config (tandem-tune --out) where
// no flag gave them. Without a config, --split and --cloud are required.
absl::Status ApplyConfig(const CLI::App& app, Flags& flags) {
  if (flags.config_path.empty()) {
    if (app.count("--split") == 0 || app.count("--cloud") == 0) {
      return absl::InvalidArgumentError(
          "--split and --cloud are required (or --config FILE written by tandem-tune)");
    }
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(tandem::tune::TunedConfig config,
                   tandem::tune::ReadTunedConfig(flags.config_path));
  if (app.count("--split") == 0) flags.split = config.split;
  if (app.count("--codec") == 0) flags.codec = std::string(tandem::CodecKindName(config.codec));
  if (app.count("--cloud") == 0) flags.link.target = config.cloud;
  if (app.count("--model") == 0 && !config.model.empty()) flags.model_path = config.model;
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t signals = BlockTerminationSignals();
  Flags flags;
  tandem::ClientTlsOptions& tls = flags.link.tls;

  CLI::App app{"tandem-edge: runs layers [0, K) here and the rest on a tandem-cloud worker"};
  app.add_option("-m,--model", flags.model_path, "GGUF model (the whole model or an edge shard)")
      ->capture_default_str();
  app.add_option("--config", flags.config_path,
                 "Config from tandem-tune --out (split, codec, cloud, model); flags override it");
  app.add_option("--split", flags.split, "K: layers [0, K) run on this device");
  app.add_option("--cloud", flags.link.target, "HOST:PORT of the tandem-cloud worker");
  app.add_option("--codec", flags.codec, "Hidden-state codec: f32, f16, q8, q4")
      ->capture_default_str();
  app.add_option("--listen", flags.listen, "HOST:PORT of the local HTTP API (port 0: any)")
      ->capture_default_str();
  app.add_option("--metrics", flags.metrics_address, "HOST:PORT to serve Prometheus /metrics on");
  app.add_option("-t,--threads", flags.pool.threads_per_slot, "Compute threads per generation")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--slots", flags.pool.slots, "Generations run at once")->capture_default_str();
  app.add_option("--max-waiting", flags.pool.max_waiting, "Requests queued for a slot")
      ->capture_default_str();
  app.add_option("--max-context", flags.split_options.max_context,
                 "Positions per generation (0: the model's context length)")
      ->capture_default_str();
  app.add_option("--step-timeout-seconds", flags.step_timeout_seconds,
                 "Deadline for each step's answer from the worker")
      ->capture_default_str();
  app.add_option("--tls-ca", tls.ca_file, "PEM CA that signed the worker's certificate");
  app.add_option("--tls-cert", tls.cert_file, "PEM client certificate (mutual TLS)");
  app.add_option("--tls-key", tls.key_file, "PEM private key of the client certificate");
  app.add_option("--tls-server-name", tls.server_name, "Expected name in the worker's certificate");
  app.add_flag("--insecure", tls.insecure, "Plaintext gRPC (logs a warning)");
  app.add_option("--auth-token-file", flags.auth_token_file,
                 "File holding this device's bearer token");
  app.add_option("-p,--prompt", flags.prompt, "One-shot mode: generate from this prompt and exit");
  app.add_option("-n,--n-predict", flags.n_predict, "One-shot mode: tokens to generate")
      ->capture_default_str();
  app.add_option("--temp", flags.sampling.temperature, "One-shot mode: temperature (0: greedy)")
      ->capture_default_str();
  app.add_option("--top-k", flags.sampling.top_k, "One-shot mode: top-k")->capture_default_str();
  app.add_option("--top-p", flags.sampling.top_p, "One-shot mode: top-p")->capture_default_str();
  app.add_option("--seed", flags.sampling.seed, "One-shot mode: sampling seed")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  flags.one_shot = app.count("--prompt") > 0;

  absl::Status status = ApplyConfig(app, flags);
  if (status.ok()) status = Run(flags, signals);
  if (!status.ok()) {
    std::cerr << "tandem-edge: error: " << status << "\n";
    return 1;
  }
  return 0;
}
