// Per-layer timings of this worker for the split-point tuner: each layer runs on
// synthetic hidden states in a scratch runner of its own (no session is touched), for a
// decode step at a given cache length and for a prompt chunk from an empty cache.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "cloud/step_scheduler.h"
#include "common/model/llama_model.h"

namespace tandem::cloud {

struct ProfileRequest {
  int32_t first_layer = 0;
  int32_t end_layer = 0;               // 0: through the last layer
  int32_t context_positions = 1;       // cache length for the decode step, >= 1
  int32_t prompt_chunk_positions = 1;  // >= 1
  int32_t repetitions = 0;             // 0: 5; the median is reported
};

struct LayerTiming {
  int32_t layer = 0;
  double decode_seconds = 0;
  double prompt_chunk_seconds = 0;
};

struct ProfileResult {
  std::vector<LayerTiming> layers;  // layer order
  double head_decode_seconds = 0;   // final norm + head + sampler, one position
  ProfileRequest effective;         // the request with defaults filled in
  int32_t threads = 0;
};

inline constexpr int32_t kDefaultProfileRepetitions = 5;

// InvalidArgument for a layer range outside the model or sizes < 1; OutOfRange if a
// size exceeds the model's context length. Every timed run is its own scheduler step, so
// sessions keep running in between; the caller bounds the sizes (they cost memory and
// time). Unavailable if the scheduler shuts down meanwhile.
// `cancelled` (may be empty) is asked before every timed run: once it says true, the
// profile ends with Cancelled.
using ProfileCancelled = std::function<bool()>;
absl::StatusOr<ProfileResult> ProfileLayers(const LlamaModel& model, const ProfileRequest& request,
                                            StepScheduler& scheduler,
                                            const ProfileCancelled& cancelled = {});

}  // namespace tandem::cloud
