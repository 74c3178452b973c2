// The split-point cost model: from measured per-layer times on the device and on the
// worker, the link's round-trip time and throughput, and the model's sizes, predicts for
// every split point K and codec the per-token latency, the time to first token, the
// device memory and the bytes on the wire; then picks K under the user's constraints.
// Pure functions of their inputs (no clocks, no I/O), so tests feed fixed numbers.
//
// Decode (one token, strictly sequential: the next token needs the previous one):
//   device  = embed + sum_{i<K} device.decode[i] + encode(codec)
//   link    = rtt + (row_bytes + message overhead) / uplink + reply bytes / downlink
//   cloud   = decode(codec) + sum_{i>=K} cloud.decode[i] + head + cloud step overhead
//   per-token latency = device + link + cloud
// Speculative decoding (with a draft model): a round of g drafts costs g draft steps, then
// one step of g + 1 positions (device, link and worker: the decode time plus g extra
// positions at the prompt-chunk rate, g + 1 rows up) and yields (1 - a^(g+1)) / (1 - a)
// tokens at acceptance a; the best g in [1, max] if it beats a plain step, else 0.
// Prompt (chunks of C positions, pipelined as the edge does it: the edge computes chunk
// j+1 while chunk j travels and runs on the worker): a three-stage flow shop, then the
// head and the reply.
// Device memory: embedding + layers [0, K) as stored, the f32 KV cache of K layers at
// the context size, per-position scratch, plus a fallback model if the device keeps one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/codec/codec_kind.h"

namespace tandem::tune {

// Median wall time of one layer.
struct LayerCost {
  double decode_seconds = 0;        // one position after the context
  double prompt_chunk_seconds = 0;  // one chunk of SideProfile::prompt_chunk_positions
};

// Timings of one side (device or worker). layers[i] is layer i; only layers in
// [first_layer, end_layer) were measured (the device may hold an edge shard, the worker a
// cloud shard).
struct SideProfile {
  std::vector<LayerCost> layers;  // size n_layers
  int32_t first_layer = 0;
  int32_t end_layer = 0;
  int32_t prompt_chunk_positions = 1;
  double fixed_decode_seconds = 0;  // per token outside the layers (device: embedding;
                                    // worker: norm + head + sampler + step overhead)
};

// A hidden-state codec: bytes and CPU time per row (one position).
struct CodecCost {
  CodecKind kind = CodecKind::kQ8;
  double row_bytes = 0;
  double encode_seconds = 0;  // on the device
  double decode_seconds = 0;  // on the worker
};

// The link, measured or simulated.
struct LinkEstimate {
  double rtt_seconds = 0;
  double uplink_bytes_per_second = 0;    // device -> worker
  double downlink_bytes_per_second = 0;  // worker -> device
  double message_overhead_bytes = 40;    // framing per message (gRPC + proto fields)
  double reply_bytes = 24;               // a Token message
};

// Bytes of what a device holds.
struct MemoryModel {
  int64_t embedding_bytes = 0;
  std::vector<int64_t> layer_bytes;         // size n_layers, as stored on the device
  int64_t kv_bytes_per_layer_position = 0;  // keys + values, f32
  int64_t scratch_bytes_per_position = 0;   // activations of one position
  int64_t fallback_bytes = 0;               // a local fallback model, if any
};

struct Workload {
  int32_t context_positions = 512;  // KV cache size
  int32_t prompt_tokens = 64;       // for the time to first token
};

// A draft model on the device (speculative decoding); draft_seconds_per_token 0: none.
struct SpeculationModel {
  double draft_seconds_per_token = 0;  // measured on the device
  double acceptance = 0.7;             // expected share of drafts the worker accepts
  int32_t max_draft_tokens = 8;
};

struct CostInputs {
  int32_t n_layers = 0;
  SideProfile device;
  SideProfile cloud;
  std::vector<CodecCost> codecs;  // candidates
  LinkEstimate link;
  MemoryModel memory;
  Workload workload;
  SpeculationModel speculation;
};

// InvalidArgument naming the first inconsistent field (sizes, negative or non-finite times,
// a zero bandwidth, layer ranges outside the model).
absl::Status ValidateCostInputs(const CostInputs& inputs);

struct Prediction {
  int32_t split = 0;
  CodecKind codec = CodecKind::kQ8;
  double device_seconds = 0;  // per token
  double link_seconds = 0;
  double cloud_seconds = 0;
  double per_token_seconds = 0;
  // With a draft model: the best draft length (0: speculation does not pay here) and the
  // time per token with it (per_token_seconds when 0).
  int32_t draft_tokens = 0;
  double speculative_token_seconds = 0;
  double first_token_seconds = 0;
  int64_t device_bytes = 0;
  double up_bytes_per_token = 0;
  double down_bytes_per_token = 0;
};

// The prediction for split K with `codec`. K must be in [1, n_layers - 1], measured on
// both sides (device layers [0, K), worker layers [K, N)).
Prediction Predict(const CostInputs& inputs, int32_t split, const CodecCost& codec);

// Every K both sides can run, times every codec, in (K, codec) order.
std::vector<Prediction> PredictAll(const CostInputs& inputs);

// The worker's time for one decode step at split K, measured with a real session (the
// step's round trip less the link's modelled time and the codec's decode time).
struct WorkerStepSample {
  int32_t split = 0;
  double cloud_seconds = 0;
};

// cloud decode time(K) = offset + scale * (sum_{i>=K} decode[i] + fixed), fitted to real
// steps. The Profile RPC times each layer alone, repeatedly, so its weights sit in the
// caches; a real step streams all of [K, N) and adds the service's own work.
struct WorkerCalibration {
  double scale = 1;
  double offset_seconds = 0;
};

// Least squares through samples at two or more split points; one split point, or a fit
// with a non-positive scale or a negative offset (noise), gives a pure scale (least
// squares through the origin).
WorkerCalibration FitWorkerCalibration(const SideProfile& cloud, int32_t n_layers,
                                       const std::vector<WorkerStepSample>& samples);

// Scales the decode times and the fixed time and adds the offset to the fixed time. Prompt
// chunk times (compute-bound, far less sensitive to caches) are left as measured.
void ApplyWorkerCalibration(const WorkerCalibration& calibration, SideProfile& cloud);

enum class Objective {
  kLatency,    // lowest per-token latency
  kEdgeWork,   // least device compute per token (fewest device layers)
  kCloudWork,  // least worker compute per token (most device layers)
};

// "latency" | "edge-work" | "cloud-work".
absl::StatusOr<Objective> ParseObjective(std::string_view name);
std::string_view ObjectiveName(Objective objective);

struct Constraints {
  int64_t memory_budget_bytes = 0;    // 0: none
  int32_t min_edge_layers = 1;        // privacy: at least this many layers on the device
  double latency_target_seconds = 0;  // 0: none
  Objective objective = Objective::kLatency;
  // Latencies within this fraction of the lowest count as equal (measurement noise); the
  // tie goes to less device memory, then fewer bytes per token.
  double latency_tolerance = 0.02;
};

struct Recommendation {
  Prediction choice;
  bool meets_latency_target = true;  // false: no candidate did; this is the fastest one
  std::string reason;                // one line: why this one
};

// Whether `p` fits the hard constraints (memory budget, minimum device layers).
bool FitsHardConstraints(const Prediction& p, const Constraints& constraints);

// Picks among `predictions` (from PredictAll). Memory budget and minimum device layers
// are hard: FailedPrecondition naming the binding constraint if nothing fits them. The
// latency target filters the rest; if no candidate meets it, the fastest fitting one is
// returned with meets_latency_target = false. Then the objective decides.
absl::StatusOr<Recommendation> Recommend(const std::vector<Prediction>& predictions,
                                         const Constraints& constraints);

}  // namespace tandem::tune
