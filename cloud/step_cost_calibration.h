// Startup calibration of the worker's step cost model, so that deadline admission and
// batch sizing have measured costs before the first session arrives (else the first
// sessions of a burst would all be admitted on no data).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "cloud/step_scheduler.h"
#include "common/model/llama_model.h"

namespace tandem::cloud {

// Runs batches of 1, 2, 4, ... up to max_rows decode steps (each its own one-position
// sequence, as sessions' decode steps are) through layers [first_split, N) and the head,
// first all sizes once to warm up (page the weights in), forgotten, then each size
// `repetitions` times into the scheduler's cost model. Sessions at a later split cost
// less, so the estimate errs towards refusing; real batches replace it as they run.
absl::Status CalibrateStepCost(const LlamaModel& model, int32_t first_split, int32_t max_rows,
                               int32_t repetitions, StepScheduler& scheduler);

}  // namespace tandem::cloud
