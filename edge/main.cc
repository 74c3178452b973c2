// tandem-edge: the edge daemon. Runs the embedding and layers [0, K) on this device and
// the rest on a cloud worker over gRPC. Two modes:
//   --prompt TEXT: one generation, the continuation on stdout (timings on stderr), exit;
//   otherwise: the OpenAI-compatible HTTP API on --listen (loopback by default) until
//   SIGTERM/SIGINT; one line "tandem-edge serving http://HOST:PORT" on stderr says it is up.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/cli/flags.h"
#include "common/codec/codec_kind.h"
#include "common/metrics/metrics_server.h"
#include "common/net/tls.h"
#include "common/util/clock.h"
#include "common/util/host_port.h"
#include "common/util/status_macros.h"
#include "common/util/termination_signals.h"
#include "edge/edge_metrics.h"
#include "edge/edge_model.h"
#include "edge/fallback_model.h"
#include "edge/generation_pool.h"
#include "edge/grpc_cloud_link.h"
#include "edge/http_api.h"
#include "edge/resilient_generator.h"
#include "edge/tune/tuned_config.h"

namespace {

using namespace tandem::edge;

struct Flags {
  std::string config_path;  // tandem-tune's config; explicit flags override it
  std::string model_path;   // -m, default: the default model
  int32_t split = 0;
  std::string codec = "q8";
  GrpcLinkOptions link;             // target unused: one link per --cloud
  std::vector<std::string> clouds;  // HOST:PORT of each worker, in order of preference
  std::string auth_token_file;
  bool token_over_plaintext = false;
  std::string api_key_file;
  std::string listen = "127.0.0.1:8080";
  std::string metrics_address;
  SplitOptions split_options;
  PoolOptions pool;
  ApiOptions api;
  double step_timeout_seconds = 10;
  // Resilience (resilient_generator.h).
  std::string fallback_model;
  // Speculative decoding: the draft model (default: the fallback), or none.
  std::string draft_model;
  bool no_speculation = false;
  bool fixed_draft_length = false;
  ResilienceOptions resilience;
  double step_deadline_floor_ms = 250;
  double token_deadline_ms = -1;  // -1: the step deadline floor; 0: none
  double reconnect_initial_backoff_ms = 100;
  double reconnect_max_backoff_ms = 10'000;
  double reconnect_open_timeout_ms = 2'000;
  double give_up_after_seconds = 5;
  // One-shot mode.
  bool one_shot = false;
  std::string prompt;
  int32_t n_predict = 16;
  tandem::SamplingParams sampling;
};

using tandem::Clock;
using tandem::SplitHostPort;

absl::Status RunOnce(const Flags& flags, const EdgeModel& model,
                     const std::vector<CloudEndpoint>& endpoints, const FallbackModel* fallback,
                     const Clock& clock, EdgeMetrics& metrics) {
  tandem::ThreadPool pool(flags.pool.threads_per_slot);
  ASSIGN_OR_RETURN(std::unique_ptr<ResilientGenerator> generator,
                   ResilientGenerator::Create(model, endpoints, fallback, pool, clock, metrics,
                                              flags.split_options, flags.resilience));
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
      "finish: %s; link: %.0f bytes (%.0f per position)%s%s\n",
      result.prompt_tokens, ttft, result.completion_tokens, decode,
      result.completion_tokens > 1 ? (result.completion_tokens - 1) / decode : 0.0,
      FinishReasonName(result.finish_reason), wire_bytes,
      wire_bytes / std::max(1, result.prompt_tokens + result.completion_tokens - 1),
      generator->stats().fallback_tokens > 0
          ? absl::StrFormat("; %d tokens from the fallback model",
                            generator->stats().fallback_tokens)
          : "",
      result.drafted_tokens > 0
          ? absl::StrFormat(
                "; speculation: %d of %d drafts accepted, %.2f tokens per round trip",
                result.accepted_drafts, result.drafted_tokens,
                static_cast<double>(generator->stats().rounds + generator->stats().accepted) /
                    std::max<int64_t>(1, generator->stats().rounds))
          : "");
  return absl::OkStatus();
}

absl::Status Run(Flags& flags, const sigset_t& signals) {
  ASSIGN_OR_RETURN(flags.split_options.codec, tandem::ParseCodecKind(flags.codec));
  flags.split_options.step_timeout = absl::Seconds(flags.step_timeout_seconds);
  RETURN_IF_ERROR(flags.split_options.Validate());
  ReconnectOptions& reconnect = flags.resilience.reconnect;
  flags.resilience.deadline.floor = absl::Milliseconds(flags.step_deadline_floor_ms);
  // A worker slower than the step deadline makes this edge fall back anyway, so that is
  // the target it declares unless told otherwise.
  if (flags.token_deadline_ms < 0) flags.token_deadline_ms = flags.step_deadline_floor_ms;
  if (flags.token_deadline_ms > 0) {
    flags.split_options.token_deadline = absl::Milliseconds(flags.token_deadline_ms);
  }
  reconnect.initial_backoff = absl::Milliseconds(flags.reconnect_initial_backoff_ms);
  reconnect.max_backoff = absl::Milliseconds(flags.reconnect_max_backoff_ms);
  reconnect.open_timeout = absl::Milliseconds(flags.reconnect_open_timeout_ms);
  reconnect.give_up_after = absl::Seconds(flags.give_up_after_seconds);
  RETURN_IF_ERROR(flags.resilience.Validate());
  if (flags.resilience.deadline.floor > flags.split_options.step_timeout) {
    return absl::InvalidArgumentError(
        "--step-deadline-floor-ms must not be above --step-timeout-seconds");
  }
  RETURN_IF_ERROR(flags.pool.Validate());
  RETURN_IF_ERROR(flags.sampling.Validate());
  ASSIGN_OR_RETURN(auto listen, SplitHostPort(flags.listen));
  if (!flags.auth_token_file.empty()) {
    if (flags.link.tls.insecure && !flags.token_over_plaintext) {
      return absl::InvalidArgumentError(
          "--auth-token-file with --insecure would send the token in plaintext; use TLS, or "
          "add --token-over-plaintext if the network is trusted");
    }
    ASSIGN_OR_RETURN(flags.link.auth_token, tandem::ReadBearerToken(flags.auth_token_file));
  }
  flags.api.access.loopback_listener = tandem::IsLoopbackHost(listen.first);
  if (!flags.api_key_file.empty()) {
    ASSIGN_OR_RETURN(flags.api.access.api_key, ReadApiKeyFile(flags.api_key_file));
  }
  RETURN_IF_ERROR(flags.api.Validate());
  if (flags.link.tls.insecure) {
    std::cerr << "tandem-edge: WARNING: --insecure: the edge-cloud link is plaintext; hidden "
                 "states and tokens can be read and altered on the network\n";
  }

  if (flags.no_speculation && !flags.draft_model.empty()) {
    return absl::InvalidArgumentError("--draft-model and --no-speculation contradict each other");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<EdgeModel> model,
                   EdgeModel::Load(flags.model_path, flags.split));
  if (!model->chat_template_warning().empty()) {
    std::cerr << "tandem-edge: WARNING: " << model->chat_template_warning() << "\n";
  }
  std::unique_ptr<FallbackModel> fallback;
  if (!flags.fallback_model.empty()) {
    ASSIGN_OR_RETURN(fallback, FallbackModel::Load(flags.fallback_model, model->tokenizer()));
  }
  // The draft shares the main model's vocabulary (FallbackModel::Load checks it).
  std::unique_ptr<FallbackModel> draft;
  if (!flags.draft_model.empty()) {
    ASSIGN_OR_RETURN(draft, FallbackModel::Load(flags.draft_model, model->tokenizer()));
  }
  SpeculationOptions& speculation = flags.resilience.speculation;
  speculation.draft_model = draft.get();
  speculation.enabled = !flags.no_speculation && (draft != nullptr || fallback != nullptr);
  speculation.adaptive = !flags.fixed_draft_length;
  RETURN_IF_ERROR(flags.resilience.Validate());
  // One link per worker; the channel's own reconnect backoff follows the policy's.
  std::vector<std::unique_ptr<GrpcCloudLink>> links;
  std::vector<CloudEndpoint> endpoints;
  for (const std::string& cloud : flags.clouds) {
    GrpcLinkOptions options = flags.link;
    options.target = cloud;
    options.initial_reconnect_backoff = reconnect.initial_backoff;
    options.max_reconnect_backoff = reconnect.max_backoff;
    ASSIGN_OR_RETURN(links.emplace_back(), GrpcCloudLink::Create(options));
    endpoints.push_back({.name = cloud, .link = links.back().get()});
  }
  tandem::SystemClock clock;
  tandem::MetricsServer metrics_server;
  EdgeMetrics metrics(metrics_server.registry(), flags.split_options.codec);
  if (!flags.metrics_address.empty()) {
    ASSIGN_OR_RETURN(int port, metrics_server.Start(flags.metrics_address));
    ASSIGN_OR_RETURN(auto metrics_listen, SplitHostPort(flags.metrics_address));
    std::cerr << "tandem-edge metrics on " << metrics_listen.first << ":" << port << "/metrics\n";
  }
  if (flags.one_shot) {
    return RunOnce(flags, *model, endpoints, fallback.get(), clock, metrics);
  }

  ASSIGN_OR_RETURN(std::unique_ptr<GenerationPool> pool,
                   GenerationPool::Create(*model, endpoints, fallback.get(), clock, metrics,
                                          flags.split_options, flags.resilience, flags.pool));
  // /health probes every worker: ok while any of them serves.
  flags.api.fallback_available = fallback != nullptr;
  HttpApi api(*model, *pool, endpoints, clock, metrics, flags.api);
  ASSIGN_OR_RETURN(int port, api.Start(listen.first, listen.second));
  std::cerr << "tandem-edge: model " << model->name() << ", layers [0, " << model->split()
            << ") of " << model->hparams().n_layers << " here, the rest on "
            << absl::StrJoin(flags.clouds, " or ") << ", codec " << flags.codec
            << (fallback != nullptr ? ", fallback model " + fallback->name()
                                    : std::string(", no fallback model"))
            << (speculation.enabled
                    ? ", drafting with " + (draft != nullptr ? draft : fallback)->name()
                    : std::string(", no speculation"))
            << "\n";
  std::cerr << "tandem-edge serving http://" << listen.first << ":" << port << std::endl;

  const char* signal = tandem::WaitForTerminationSignal(signals);  // blocks
  std::cerr << "tandem-edge: " << signal << ", shutting down\n";
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
  if (app.count("--cloud") == 0) flags.clouds = {config.cloud};
  if (app.count("--model") == 0 && !config.model.empty()) flags.model_path = config.model;
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t signals = tandem::BlockTerminationSignals();
  Flags flags;

  CLI::App app{"tandem-edge: runs layers [0, K) here and the rest on a tandem-cloud worker"};
  tandem::cli::AddModel(app, flags.model_path, "GGUF model (the whole model or an edge shard)");
  app.add_option("--config", flags.config_path,
                 "Config from tandem-tune --out (split, codec, cloud, model); flags override it");
  app.add_option("--split", flags.split, "K: layers [0, K) run on this device");
  app.add_option("--cloud", flags.clouds,
                 "HOST:PORT of a tandem-cloud worker; repeat it for others to fail over to");
  app.add_option("--codec", flags.codec, "Hidden-state codec: f32, f16, q8, q4")
      ->capture_default_str();
  app.add_option("--listen", flags.listen, "HOST:PORT of the local HTTP API (port 0: any)")
      ->capture_default_str();
  app.add_option("--metrics", flags.metrics_address, "HOST:PORT to serve Prometheus /metrics on");
  tandem::cli::AddThreads(app, flags.pool.threads_per_slot, "Compute threads per generation");
  app.add_option("--slots", flags.pool.slots, "Generations run at once")->capture_default_str();
  app.add_option("--max-waiting", flags.pool.max_waiting, "Requests queued for a slot")
      ->capture_default_str();
  tandem::cli::AddContext(app, flags.split_options.max_context,
                          "Positions per generation (0: the model's context length)");
  app.add_option("--step-timeout-seconds", flags.step_timeout_seconds,
                 "Deadline for each step's answer from the worker")
      ->capture_default_str();
  app.add_option("--fallback-model", flags.fallback_model,
                 "Complete small model (same tokenizer) that continues generations while the "
                 "cloud is unreachable");
  app.add_option("--draft-model", flags.draft_model,
                 "Speculative decoding: a small GGUF model of the same vocabulary that guesses "
                 "tokens for the worker to verify several per round trip (default: the "
                 "fallback model)");
  app.add_flag("--no-speculation", flags.no_speculation, "Never draft: one round trip per token");
  tandem::cli::AddBounded(app, "--max-draft-tokens", flags.resilience.speculation.max_draft_tokens,
                          "Most tokens drafted per round trip (the number follows the measured "
                          "acceptance and link)",
                          1, 64);
  app.add_flag("--fixed-draft-length", flags.fixed_draft_length,
               "Draft --max-draft-tokens every round instead of adapting (for measurements)");
  app.add_option("--step-deadline-floor-ms", flags.step_deadline_floor_ms,
                 "Least time a decode step may take before the link counts as failed (the "
                 "deadline follows the measured step latency above it)")
      ->capture_default_str();
  app.add_option("--token-deadline-ms", flags.token_deadline_ms,
                 "Per-token latency target declared to the worker, which refuses the session "
                 "at once (so this edge falls back) if it cannot meet it; 0: none (default: "
                 "--step-deadline-floor-ms)");
  app.add_option("--reconnect-initial-backoff-ms", flags.reconnect_initial_backoff_ms,
                 "Delay before the second reconnect attempt (doubling, with jitter)")
      ->capture_default_str();
  app.add_option("--reconnect-max-backoff-ms", flags.reconnect_max_backoff_ms,
                 "Longest delay between reconnect attempts")
      ->capture_default_str();
  app.add_option("--reconnect-open-timeout-ms", flags.reconnect_open_timeout_ms,
                 "Deadline of one reconnect attempt")
      ->capture_default_str();
  app.add_option("--min-fallback-tokens", flags.resilience.reconnect.min_fallback_tokens,
                 "Tokens to generate on the fallback before switching back to the cloud")
      ->capture_default_str();
  app.add_option("--give-up-after-seconds", flags.give_up_after_seconds,
                 "Without a fallback model: fail a generation after this long without a worker "
                 "(0: at the first link error)")
      ->capture_default_str();
  tandem::cli::AddClientTls(app, flags.link.tls, flags.auth_token_file);
  app.get_option("--auth-token-file")
      ->description(
          "File holding this device's bearer token (needs TLS unless --token-over-plaintext)");
  app.add_flag("--token-over-plaintext", flags.token_over_plaintext,
               "With --insecure: send the bearer token anyway (trusted network only)");
  app.add_option("--api-key-file", flags.api_key_file,
                 "File holding the key apps must send (\"Authorization: Bearer KEY\") to the "
                 "HTTP API; required when --listen is not a loopback address");
  app.add_option("--allow-origin", flags.api.access.allowed_origins,
                 "Web origin (scheme://host[:port]) whose pages may call the HTTP API, besides "
                 "loopback origins; repeatable");
  app.add_option("--http-threads", flags.api.http_threads,
                 "HTTP connections served at once (generations are bounded by --slots)")
      ->capture_default_str();
  app.add_option("--default-chat-max-tokens", flags.api.default_chat_max_tokens,
                 "max_tokens of chat requests that give none")
      ->capture_default_str();
  app.add_option("-p,--prompt", flags.prompt, "One-shot mode: generate from this prompt and exit");
  app.add_option("-n,--n-predict", flags.n_predict, "One-shot mode: tokens to generate")
      ->capture_default_str();
  tandem::cli::AddSampling(app, flags.sampling, "One-shot mode: ");
  CLI11_PARSE(app, argc, argv);
  flags.one_shot = app.count("--prompt") > 0;

  absl::Status status = ApplyConfig(app, flags);
  if (status.ok()) status = Run(flags, signals);
  return tandem::cli::ExitCode("tandem-edge", status);
}
