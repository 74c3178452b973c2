#include "edge/tune/tuner.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/util/status_macros.h"
#include "edge/tune/worker_calibrator.h"

namespace tandem::tune {
namespace {

// The worker's timings as a SideProfile over the whole model's layer indices.
SideProfile CloudSide(const WorkerTimings& t, int32_t n_layers) {
  SideProfile side;
  side.layers.assign(n_layers, LayerCost{});
  side.first_layer = t.first_layer;
  side.end_layer = t.first_layer + static_cast<int32_t>(t.layers.size());
  side.prompt_chunk_positions = t.prompt_chunk_positions;
  side.fixed_decode_seconds = t.head_decode_seconds;
  for (size_t i = 0; i < t.layers.size(); ++i) side.layers[t.first_layer + i] = t.layers[i];
  return side;
}

std::string CodecList(const std::vector<CodecKind>& codecs) {
  return absl::StrJoin(codecs, ",", [](std::string* out, CodecKind k) {
    out->append(CodecKindName(k).data(), CodecKindName(k).size());
  });
}

}  // namespace

absl::Status TuneOptions::Validate() const {
  if (codecs.empty()) return absl::InvalidArgumentError("no codec to consider");
  if (threads < 1 || prompt_tokens < 1 || gen_tokens < 1 || context_positions < 0 ||
      prompt_chunk_positions < 1 || repetitions < 1 || repetitions > 100 || fallback_bytes < 0 ||
      calibration_steps < 0) {
    return absl::InvalidArgumentError(
        "threads, prompt/gen tokens, chunk positions and repetitions (<= 100) must be >= 1");
  }
  if (simulate_rtt_seconds && !(*simulate_rtt_seconds >= 0)) {
    return absl::InvalidArgumentError("--simulate-rtt must be >= 0");
  }
  if (simulate_bandwidth_bytes_per_second && !(*simulate_bandwidth_bytes_per_second > 0)) {
    return absl::InvalidArgumentError("--simulate-bandwidth must be > 0");
  }
  return absl::OkStatus();
}

namespace {

// The codecs both sides take; FailedPrecondition if the worker serves another model or
// none of the candidate codecs.
absl::StatusOr<std::vector<CodecKind>> CommonCodecs(const LlamaModel& model, const WorkerInfo& w,
                                                    const TuneOptions& o) {
  const LlamaHparams& hp = model.hparams();
  if (w.model_id != model.identity() || w.n_layers != hp.n_layers || w.hidden_dim != hp.dim) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "model mismatch: this device has \"%s\" (%d layers of width %d), the worker serves "
        "\"%s\" (%d layers of width %d)",
        model.identity(), hp.n_layers, hp.dim, w.model_id, w.n_layers, w.hidden_dim));
  }
  std::vector<CodecKind> codecs;
  for (CodecKind c : o.codecs) {
    if (std::find(w.codecs.begin(), w.codecs.end(), c) != w.codecs.end()) codecs.push_back(c);
  }
  if (codecs.empty()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the worker accepts none of the codecs %s (it accepts %s)",
                        CodecList(o.codecs), CodecList(w.codecs)));
  }
  return codecs;
}

// Echo payload sizes: the configured ones plus each codec's row and prompt chunk, up to
// the worker's 1 MiB echo limit.
LinkProbeOptions EchoOptions(const TuneOptions& o, const std::vector<CodecCost>& codecs) {
  LinkProbeOptions lo = o.link;
  for (const CodecCost& c : codecs) {
    lo.sizes.push_back(static_cast<int64_t>(c.row_bytes));
    lo.sizes.push_back(static_cast<int64_t>(c.row_bytes) * o.prompt_chunk_positions);
  }
  std::sort(lo.sizes.begin(), lo.sizes.end());
  lo.sizes.erase(std::unique(lo.sizes.begin(), lo.sizes.end()), lo.sizes.end());
  while (!lo.sizes.empty() && lo.sizes.back() > (1 << 20)) lo.sizes.pop_back();  // Echo limit
  return lo;
}

// Real decode steps at the first and the last split point, on the measured link `in.link`:
// the worker's profile is fitted to them (result.calibration) and `in.cloud` corrected.
absl::Status CalibrateWorker(const LlamaModel& model, edge::CloudLink& cloud_link,
                             const TuneOptions& o, int32_t first, int32_t timed_at, CostInputs& in,
                             TuneResult& result, std::ostream& log) {
  const LlamaHparams& hp = model.hparams();
  const CodecCost& codec = in.codecs.front();
  for (int32_t k : {first, hp.n_layers - 1}) {
    if (!result.calibration_samples.empty() && result.calibration_samples[0].split == k) break;
    log << absl::StrFormat("tandem-tune: timing %d real decode steps on the worker at K = %d\n",
                           o.calibration_steps, k);
    ASSIGN_OR_RETURN(double step, TimeWorkerSteps(cloud_link, {.model = &model,
                                                               .split = k,
                                                               .codec = codec.kind,
                                                               .prompt_positions = timed_at,
                                                               .steps = o.calibration_steps,
                                                               .timeout = o.rpc_timeout}));
    const double cloud = step - Predict(in, k, codec).link_seconds - codec.decode_seconds;
    result.calibration_samples.push_back({.split = k, .cloud_seconds = std::max(0.0, cloud)});
  }
  result.calibration = FitWorkerCalibration(in.cloud, hp.n_layers, result.calibration_samples);
  ApplyWorkerCalibration(result.calibration, in.cloud);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TuneResult> Tune(const LlamaModel& model, WorkerProbe& probe,
                                edge::CloudLink* cloud_link, const TuneOptions& o,
                                const Constraints& constraints, std::ostream& log) {
  RETURN_IF_ERROR(o.Validate());
  const LlamaHparams& hp = model.hparams();
  TuneResult result;
  ASSIGN_OR_RETURN(result.worker, probe.Info(o.rpc_timeout));
  const WorkerInfo& w = result.worker;
  ASSIGN_OR_RETURN(const std::vector<CodecKind> codecs, CommonCodecs(model, w, o));

  const int32_t context =
      o.context_positions > 0 ? o.context_positions : o.prompt_tokens + o.gen_tokens;
  const int32_t timed_at = std::min(o.prompt_tokens + o.gen_tokens / 2, hp.context_length - 1);
  log << absl::StrFormat(
      "tandem-tune: profiling layers [0, %d) on this device (%d threads, "
      "decode at %d positions, prompt chunks of %d)\n",
      model.layer_end(), o.threads, timed_at, o.prompt_chunk_positions);
  ASSIGN_OR_RETURN(result.device,
                   ProfileDevice(model, {.threads = o.threads,
                                         .context_positions = timed_at,
                                         .prompt_chunk_positions = o.prompt_chunk_positions,
                                         .repetitions = o.repetitions,
                                         .codecs = codecs}));
  const int32_t first = std::max(1, w.first_layer);
  log << absl::StrFormat("tandem-tune: asking the worker to profile layers [%d, %d)\n", first,
                         hp.n_layers);
  const int32_t worker_chunk = w.max_context > 0 ? std::min(o.prompt_chunk_positions, w.max_context)
                                                 : o.prompt_chunk_positions;
  ASSIGN_OR_RETURN(
      WorkerTimings timings,
      probe.Profile({.first_layer = first,
                     .context_positions = std::min(timed_at, std::max(1, w.max_context)),
                     .prompt_chunk_positions = worker_chunk,
                     .repetitions = o.repetitions},
                    o.rpc_timeout));
  if (timings.first_layer + static_cast<int64_t>(timings.layers.size()) != hp.n_layers) {
    return absl::InternalError("the worker's profile does not cover layers through the last");
  }

  CostInputs& in = result.inputs;
  in.n_layers = hp.n_layers;
  in.device = result.device.profile;
  in.cloud = CloudSide(timings, hp.n_layers);
  in.codecs = result.device.codecs;
  in.memory = result.device.memory;
  in.memory.fallback_bytes = o.fallback_bytes;
  in.speculation = o.speculation;
  in.workload = {.context_positions = context, .prompt_tokens = o.prompt_tokens};

  LinkEstimate link;
  const bool measure_link = cloud_link != nullptr && o.calibration_steps > 0;
  if (measure_link || !(o.simulate_rtt_seconds && o.simulate_bandwidth_bytes_per_second)) {
    log << "tandem-tune: measuring the link with echoes\n";
    const LinkProbeOptions lo = EchoOptions(o, result.device.codecs);
    ASSIGN_OR_RETURN(result.measured_link, ProbeLink(probe, lo));
    link = result.measured_link->estimate;
  }
  if (measure_link) {
    in.link = link;
    RETURN_IF_ERROR(CalibrateWorker(model, *cloud_link, o, first, timed_at, in, result, log));
  }
  if (o.simulate_rtt_seconds) link.rtt_seconds = *o.simulate_rtt_seconds;
  if (o.simulate_bandwidth_bytes_per_second) {
    link.uplink_bytes_per_second = link.downlink_bytes_per_second =
        *o.simulate_bandwidth_bytes_per_second;
  }

  in.link = link;
  RETURN_IF_ERROR(ValidateCostInputs(in));
  result.predictions = PredictAll(in);
  ASSIGN_OR_RETURN(result.recommendation, Recommend(result.predictions, constraints));
  return result;
}

}  // namespace tandem::tune
