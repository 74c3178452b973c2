// tandem-tune: measures this device, the link and a tandem-cloud worker, predicts
// per-token latency, time to first token, device memory and bytes per token for every
// split point K and codec, and recommends one under the given constraints. Prints a table
// on stdout; writes the config tandem-edge reads (--out) and a chart (--svg).
#include <filesystem>
#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/cli/flags.h"
#include "common/model/llama_model.h"
#include "common/net/tls.h"
#include "common/util/status_macros.h"
#include "edge/grpc_cloud_link.h"
#include "edge/tune/grpc_worker_probe.h"
#include "edge/tune/report_table.h"
#include "edge/tune/svg_chart.h"
#include "edge/tune/tuned_config.h"
#include "edge/tune/tuner.h"

namespace {

using namespace tandem::tune;

struct Flags {
  std::string model_path;              // -m, default: the default model
  tandem::edge::GrpcLinkOptions link;  // to the worker: probes and calibration sessions
  std::string auth_token_file;
  std::string codecs = "f16,q8";
  double memory_budget_mib = 0;
  int32_t min_edge_layers = 1;
  double latency_target_ms = 0;
  std::string objective = "latency";
  double simulate_rtt_ms = -1;
  double simulate_bandwidth_mbps = -1;
  std::string fallback_model;
  std::string draft_model;
  std::string out_path;
  std::string svg_path;
  TuneOptions tune;
};

absl::StatusOr<std::vector<tandem::CodecKind>> ParseCodecs(const std::string& list) {
  if (list == "all") {
    return std::vector<tandem::CodecKind>(tandem::kAllCodecKinds.begin(),
                                          tandem::kAllCodecKinds.end());
  }
  std::vector<tandem::CodecKind> codecs;
  for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    ASSIGN_OR_RETURN(tandem::CodecKind kind,
                     tandem::ParseCodecKind(std::string(absl::StripAsciiWhitespace(name))));
    codecs.push_back(kind);
  }
  if (codecs.empty()) return absl::InvalidArgumentError("--codec: no codec given");
  return codecs;
}

// Bytes a fallback model adds on the device: its file (mapped) and its KV cache.
absl::StatusOr<int64_t> FallbackBytes(const std::string& path, int32_t context) {
  ASSIGN_OR_RETURN(auto model, tandem::LlamaModel::Load(path));
  const auto& hp = model->hparams();
  return static_cast<int64_t>(model->gguf().file_size()) + int64_t{2} * sizeof(float) *
                                                               hp.n_layers * hp.kv_dim() *
                                                               std::min(context, hp.context_length);
}

// KV-cache positions on the device: --context, else prompt + generated tokens.
int32_t DeviceContext(const TuneOptions& tune) {
  return tune.context_positions > 0 ? tune.context_positions : tune.prompt_tokens + tune.gen_tokens;
}

// Turns the flags into the tuner's options and constraints (validated), reads the token.
absl::StatusOr<Constraints> Configure(Flags& flags) {
  ASSIGN_OR_RETURN(flags.tune.codecs, ParseCodecs(flags.codecs));
  Constraints constraints;
  ASSIGN_OR_RETURN(constraints.objective, ParseObjective(flags.objective));
  if (flags.min_edge_layers < 1) {
    return absl::InvalidArgumentError("--min-edge-layers must be >= 1 (token ids stay local)");
  }
  constraints.min_edge_layers = flags.min_edge_layers;
  constraints.memory_budget_bytes = static_cast<int64_t>(flags.memory_budget_mib * 1048576.0);
  constraints.latency_target_seconds = flags.latency_target_ms / 1e3;
  if (flags.simulate_rtt_ms >= 0) flags.tune.simulate_rtt_seconds = flags.simulate_rtt_ms / 1e3;
  if (flags.simulate_bandwidth_mbps >= 0) {
    flags.tune.simulate_bandwidth_bytes_per_second = flags.simulate_bandwidth_mbps * 1e6 / 8;
  }
  RETURN_IF_ERROR(flags.tune.Validate());
  if (!flags.auth_token_file.empty()) {
    ASSIGN_OR_RETURN(flags.link.auth_token, tandem::ReadBearerToken(flags.auth_token_file));
  }
  if (flags.link.tls.insecure) {
    std::cerr << "tandem-tune: WARNING: --insecure: plaintext link to the worker\n";
  }
  const int32_t context = DeviceContext(flags.tune);
  if (!flags.fallback_model.empty()) {
    ASSIGN_OR_RETURN(flags.tune.fallback_bytes, FallbackBytes(flags.fallback_model, context));
  }
  if (!flags.draft_model.empty()) {
    ASSIGN_OR_RETURN(std::unique_ptr<tandem::LlamaModel> draft,
                     tandem::LlamaModel::Load(flags.draft_model));
    const int32_t positions = std::min(flags.tune.prompt_tokens + flags.tune.gen_tokens / 2,
                                       draft->hparams().context_length - 16);
    ASSIGN_OR_RETURN(flags.tune.speculation.draft_seconds_per_token,
                     MeasureDraftSeconds(*draft, flags.tune.threads, positions, 16));
    std::cerr << absl::StrFormat(
        "draft model %s: %.2f ms per drafted token; acceptance %.2f "
        "assumed (--draft-acceptance)\n",
        flags.draft_model, flags.tune.speculation.draft_seconds_per_token * 1e3,
        flags.tune.speculation.acceptance);
  }

  return constraints;
}

// The measurements and the predictions on stdout.
void PrintReport(const Flags& flags, const tandem::LlamaModel& model,
                 const Constraints& constraints, const TuneResult& result) {
  const LinkEstimate& link = result.inputs.link;
  std::cout << absl::StrFormat("model %s: %d layers, dim %d; worker %s serves K >= %d\n",
                               model.identity(), model.hparams().n_layers, model.hparams().dim,
                               flags.link.target, std::max(1, result.worker.first_layer));
  if (result.measured_link) {
    const LinkEstimate& m = result.measured_link->estimate;
    std::cout << absl::StrFormat(
        "link measured: RTT %.3f ms, uplink %.1f Mbit/s, downlink %.1f Mbit/s\n",
        m.rtt_seconds * 1e3, m.uplink_bytes_per_second * 8 / 1e6,
        m.downlink_bytes_per_second * 8 / 1e6);
  }
  if (!result.calibration_samples.empty()) {
    std::string samples;
    for (const WorkerStepSample& s : result.calibration_samples) {
      absl::StrAppendFormat(&samples, " K=%d: %.2f ms;", s.split, s.cloud_seconds * 1e3);
    }
    std::cout << absl::StrFormat(
        "worker calibrated by real steps (%s): its profile x %.3f + %.3f ms\n", samples,
        result.calibration.scale, result.calibration.offset_seconds * 1e3);
  }
  if (flags.tune.simulate_rtt_seconds || flags.tune.simulate_bandwidth_bytes_per_second) {
    std::cout << absl::StrFormat("link planned (simulated): RTT %.3f ms, %.1f Mbit/s each way\n",
                                 link.rtt_seconds * 1e3, link.uplink_bytes_per_second * 8 / 1e6);
  }
  std::cout << absl::StrFormat(
      "workload: %d prompt tokens, decode at %d positions, KV cache %d "
      "positions; objective %s\n",
      flags.tune.prompt_tokens, flags.tune.prompt_tokens + flags.tune.gen_tokens / 2,
      DeviceContext(flags.tune), ObjectiveName(constraints.objective));
  WriteTable(result.predictions, constraints, result.recommendation, std::cout,
             result.inputs.speculation.draft_seconds_per_token > 0);
  const Prediction& best = result.recommendation.choice;
  std::cout << absl::StrFormat(
      "recommended: K = %d, codec %s: %.2f ms/token, first token %.1f ms, device %.1f MiB, "
      "%.0f bytes/token up (%s)\n",
      best.split, tandem::CodecKindName(best.codec), best.per_token_seconds * 1e3,
      best.first_token_seconds * 1e3, best.device_bytes / 1048576.0, best.up_bytes_per_token,
      result.recommendation.reason);
}

// The config for tandem-edge (--out) and the chart (--svg).
absl::Status WriteOutputs(const Flags& flags, const tandem::LlamaModel& model,
                          const Constraints& constraints, const TuneResult& result) {
  const Prediction& best = result.recommendation.choice;
  const LinkEstimate& link = result.inputs.link;
  if (!flags.out_path.empty()) {
    TunedConfig config{
        .split = best.split,
        .codec = best.codec,
        .cloud = flags.link.target,
        .model = std::filesystem::absolute(flags.model_path).string(),
        .model_identity = model.identity(),
        .objective = std::string(ObjectiveName(constraints.objective)),
        .predicted_per_token_ms = best.per_token_seconds * 1e3,
        .predicted_first_token_ms = best.first_token_seconds * 1e3,
        .predicted_device_mib = best.device_bytes / 1048576.0,
        .bytes_per_token = best.up_bytes_per_token,
        .link_rtt_ms = link.rtt_seconds * 1e3,
        .link_uplink_mbit_per_s = link.uplink_bytes_per_second * 8 / 1e6,
        .link_simulated = flags.tune.simulate_rtt_seconds.has_value() ||
                          flags.tune.simulate_bandwidth_bytes_per_second.has_value()};
    RETURN_IF_ERROR(WriteTunedConfig(config, flags.out_path));
    std::cout << "config written to " << flags.out_path << " (tandem-edge --config)\n";
  }
  if (!flags.svg_path.empty()) {
    std::ofstream svg(flags.svg_path, std::ios::trunc);
    svg << LatencyMemoryChart(
        result.predictions, constraints, result.recommendation,
        absl::StrFormat("%s; link %s; objective %s", model.identity(),
                        result.measured_link && !flags.tune.simulate_rtt_seconds &&
                                !flags.tune.simulate_bandwidth_bytes_per_second
                            ? "measured"
                            : "simulated",
                        ObjectiveName(constraints.objective)));
    if (!svg) return absl::InternalError(absl::StrCat("cannot write ", flags.svg_path));
    std::cout << "chart written to " << flags.svg_path << "\n";
  }
  return absl::OkStatus();
}

absl::Status Run(Flags& flags) {
  ASSIGN_OR_RETURN(const Constraints constraints, Configure(flags));
  // The device side: the embedding and every layer the file holds (a whole model or an
  // edge shard; then only K up to the shard's end are candidates).
  ASSIGN_OR_RETURN(auto model,
                   tandem::LlamaModel::Load(flags.model_path, {.embedding = true, .head = false}));
  // One client: the edge's own link (calibration sessions) and the probe on its channel.
  ASSIGN_OR_RETURN(auto cloud_link, tandem::edge::GrpcCloudLink::Create(flags.link));
  GrpcWorkerProbe probe(*cloud_link);
  ASSIGN_OR_RETURN(TuneResult result,
                   Tune(*model, probe, cloud_link.get(), flags.tune, constraints, std::cerr));

  PrintReport(flags, *model, constraints, result);
  return WriteOutputs(flags, *model, constraints, result);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"tandem-tune: measures device, link and worker, and recommends the split K"};
  tandem::cli::AddModel(app, flags.model_path, "GGUF model (the whole model or an edge shard)");
  app.add_option("--cloud", flags.link.target, "HOST:PORT of the tandem-cloud worker")->required();
  tandem::cli::AddClientTls(app, flags.link.tls, flags.auth_token_file);
  app.add_option("--codec", flags.codecs, "Candidate codecs: a list of f32,f16,q8,q4, or all")
      ->capture_default_str();
  app.add_option("--memory-budget-mib", flags.memory_budget_mib,
                 "Device memory budget (weights + KV cache + fallback model); 0: none")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--min-edge-layers", flags.min_edge_layers,
                 "At least this many layers on the device (privacy)")
      ->capture_default_str();
  app.add_option("--latency-target-ms", flags.latency_target_ms,
                 "Per-token latency target; 0: none")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--objective", flags.objective, "latency | edge-work | cloud-work")
      ->capture_default_str();
  app.add_option("--simulate-rtt", flags.simulate_rtt_ms, "Plan for this round-trip time (ms)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--simulate-bandwidth", flags.simulate_bandwidth_mbps,
                 "Plan for this bandwidth each way (Mbit/s)")
      ->check(CLI::PositiveNumber);
  app.add_option("--draft-model", flags.draft_model,
                 "Model speculative decoding with this draft model (timed on this device)");
  app.add_option("--draft-acceptance", flags.tune.speculation.acceptance,
                 "Share of drafts the worker is expected to accept (measure it with "
                 "tandem-edge's tandem_edge_draft_tokens_accepted_total / _draft_tokens_total)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--fallback-model", flags.fallback_model,
                 "A local fallback model the device also keeps (counted in its memory)");
  tandem::cli::AddThreads(app, flags.tune.threads, "Device compute threads (as tandem-edge -t)");
  tandem::cli::AddBounded(app, "--prompt-tokens", flags.tune.prompt_tokens,
                          "Workload: prompt length", 1, 1 << 20);
  tandem::cli::AddBounded(app, "--gen-tokens", flags.tune.gen_tokens,
                          "Workload: tokens generated (decode is timed half way)", 1, 1 << 20);
  tandem::cli::AddContext(app, flags.tune.context_positions,
                          "KV-cache positions on the device (0: prompt + gen)");
  tandem::cli::AddBounded(app, "--repetitions", flags.tune.repetitions,
                          "Timed passes (median kept)", 1, 100);
  tandem::cli::AddBounded(
      app, "--calibration-steps", flags.tune.calibration_steps,
      "Real decode steps per split point to calibrate the worker's profile (0: off)", 0, 1000);
  app.add_option("--out", flags.out_path, "Write the config for tandem-edge --config here");
  app.add_option("--svg", flags.svg_path, "Write a chart of latency and memory vs K here");
  CLI11_PARSE(app, argc, argv);

  return tandem::cli::ExitCode("tandem-tune", Run(flags));
}
