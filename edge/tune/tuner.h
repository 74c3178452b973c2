// tandem-tune's procedure, with the worker behind WorkerProbe: check that the worker
// serves this model, profile the device's layers and codecs, ask the worker for its
// per-layer timings, measure the link, calibrate the worker's timings with a few real
// decode steps over `link` (the edge's session protocol), take a simulated link if asked
// to, predict every (K, codec) and recommend one under the constraints. Progress goes
// to `log`.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/model/llama_model.h"
#include "edge/cloud_link.h"
#include "edge/tune/cost_model.h"
#include "edge/tune/device_profiler.h"
#include "edge/tune/link_prober.h"
#include "edge/tune/worker_probe.h"

namespace tandem::tune {

struct TuneOptions {
  std::vector<CodecKind> codecs = {CodecKind::kF16, CodecKind::kQ8};  // candidates
  int32_t threads = 2;                  // device compute threads (as tandem-edge -t)
  int32_t prompt_tokens = 64;           // workload for the time to first token
  int32_t gen_tokens = 64;              // decode is timed at prompt + gen / 2 positions
  int32_t context_positions = 0;        // device KV cache; 0: prompt + gen
  int32_t prompt_chunk_positions = 64;  // as tandem-edge's prompt chunks
  int32_t repetitions = 5;
  int64_t fallback_bytes = 0;  // a local fallback model kept on the device
  // A draft model for speculative decoding (draft_seconds_per_token 0: none).
  SpeculationModel speculation;
  // Plan for another link: replaces the measured round trip / bandwidth (both ways).
  std::optional<double> simulate_rtt_seconds;
  std::optional<double> simulate_bandwidth_bytes_per_second;
  LinkProbeOptions link;
  // Real decode steps per split point to calibrate the worker's profile with (at the
  // first and the last split point); 0: trust the profile as it is.
  int32_t calibration_steps = 16;
  absl::Duration rpc_timeout = absl::Seconds(120);  // Info and Profile

  absl::Status Validate() const;
};

struct TuneResult {
  WorkerInfo worker;
  DeviceMeasurement device;
  std::optional<LinkMeasurement> measured_link;       // absent if fully simulated
  std::vector<WorkerStepSample> calibration_samples;  // real steps on the measured link
  WorkerCalibration calibration;                      // applied to inputs.cloud
  CostInputs inputs;
  std::vector<Prediction> predictions;
  Recommendation recommendation;
};

// FailedPrecondition if the worker serves another model (identity, layers or width) or
// none of the codecs; the probe's and the profiler's errors; Recommend's.
// `link` may be null (no calibration).
absl::StatusOr<TuneResult> Tune(const LlamaModel& model, WorkerProbe& probe, edge::CloudLink* link,
                                const TuneOptions& options, const Constraints& constraints,
                                std::ostream& log);

}  // namespace tandem::tune
