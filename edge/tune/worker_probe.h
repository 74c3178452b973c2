// What the tuner asks a worker, free of gRPC types: its model and limits, its per-layer
// timings (the Profile RPC) and payload echoes for the link (the Echo RPC). Implemented
// over gRPC (grpc_worker_probe.h); tests use a fake.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/codec/codec_kind.h"
#include "edge/tune/cost_model.h"

namespace tandem::tune {

struct WorkerInfo {
  std::string model_id;
  int32_t n_layers = 0;
  int32_t hidden_dim = 0;
  int32_t first_layer = 0;  // serves split points K >= first_layer
  std::vector<CodecKind> codecs;
  int32_t max_context = 0;
};

struct WorkerProfileQuery {
  int32_t first_layer = 0;
  int32_t context_positions = 1;
  int32_t prompt_chunk_positions = 1;
  int32_t repetitions = 5;
};

struct WorkerTimings {
  std::vector<LayerCost> layers;  // layers [first_layer, n_layers), in order
  int32_t first_layer = 0;
  int32_t prompt_chunk_positions = 1;
  double head_decode_seconds = 0;  // norm + head + sampler, one position
  int32_t threads = 0;
};

// One echo as the prober saw it.
struct EchoTiming {
  double round_trip_seconds = 0;  // request sent -> reply received, on this side
  double server_seconds = 0;      // the worker's own time in between
};

class WorkerProbe {
 public:
  virtual ~WorkerProbe() = default;
  virtual absl::StatusOr<WorkerInfo> Info(absl::Duration timeout) = 0;
  virtual absl::StatusOr<WorkerTimings> Profile(const WorkerProfileQuery& query,
                                                absl::Duration timeout) = 0;
  // Sends `up_bytes` and asks for `down_bytes` back.
  virtual absl::StatusOr<EchoTiming> Echo(int64_t up_bytes, int64_t down_bytes,
                                          absl::Duration timeout) = 0;
};

}  // namespace tandem::tune
