// Times real decode steps on the worker: a session like the edge's (Hello, a prompt
// chunk, then one position per step, each sampled) with synthetic hidden rows. The
// worker's Profile RPC times each layer on its own, many times over, so its weights sit
// in the caches; a real step streams all of [K, N) and adds the service's own work
// (stream, codec, scheduler, sampler). These timings calibrate the profile (cost_model.h
// FitWorkerCalibration).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/codec/codec_kind.h"
#include "common/model/llama_model.h"
#include "edge/cloud_link.h"

namespace tandem::tune {

struct StepProbe {
  const LlamaModel* model = nullptr;  // the edge's: its identity and shape go in the Hello
  int32_t split = 1;
  CodecKind codec = CodecKind::kQ8;
  int32_t prompt_positions = 16;               // the cache length before the timed steps
  int32_t steps = 16;                          // timed decode steps; the median is kept
  absl::Duration timeout = absl::Seconds(30);  // per step
};

// Median wall time from handing a one-position chunk to the link to receiving its token.
// The link's and the worker's errors; the session is closed either way.
absl::StatusOr<double> TimeWorkerSteps(edge::CloudLink& link, const StepProbe& probe);

}  // namespace tandem::tune
