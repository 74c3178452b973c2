// Measures this device for the cost model: each layer's time for a decode step and for a
// prompt chunk (real runs of the model's real layers, on synthetic hidden states), the
// codecs' encode and decode times per row, and the sizes of what the device would hold.
//
// Layers are timed in passes over all the layers the file holds (layer 0, 1, ..., then
// again), not one layer many times over, so that each layer's weights come from wherever
// a real decode finds them (DRAM for a model larger than the caches).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/codec/codec_kind.h"
#include "common/model/llama_model.h"
#include "edge/tune/cost_model.h"

namespace tandem::tune {

struct DeviceProfileOptions {
  int32_t threads = 2;
  int32_t context_positions = 128;      // cache length at which decode is timed
  int32_t prompt_chunk_positions = 64;  // positions per timed prompt chunk
  int32_t repetitions = 5;              // timed passes; the median is kept
  std::vector<CodecKind> codecs = {CodecKind::kF16, CodecKind::kQ8};
};

struct DeviceMeasurement {
  SideProfile profile;            // layers [0, model.layer_end())
  std::vector<CodecCost> codecs;  // row bytes and encode/decode times on this device
  MemoryModel memory;             // as stored in the model file (fallback_bytes: 0)
};

// `model` must hold the embedding and layers from 0 (a whole model or an edge shard).
// InvalidArgument for bad options (sizes < 1, a context beyond the model's, a codec that
// cannot carry the model's rows); FailedPrecondition for a model without the embedding.
absl::StatusOr<DeviceMeasurement> ProfileDevice(const LlamaModel& model,
                                                const DeviceProfileOptions& options);

// A draft model's time per drafted token on this device: the median of `repetitions`
// single-token steps after a context of `context_positions` (speculative decoding's cost
// model). InvalidArgument for sizes < 1 or a context beyond the model's.
absl::StatusOr<double> MeasureDraftSeconds(const LlamaModel& draft, int32_t threads,
                                           int32_t context_positions, int32_t repetitions);

// The memory model of `model` (sizes only; nothing is run).
MemoryModel MeasureMemory(const LlamaModel& model);

}  // namespace tandem::tune
