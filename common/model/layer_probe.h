// One layer of a model in a scratch runner of its own (no session's cache is touched),
// timed on synthetic hidden states: a prompt chunk from an empty cache, and a decode step
// after `context` cached positions. The per-layer measurement of both profilers: the
// worker's (cloud/layer_profiler.h: one layer at a time, each run a scheduler step) and
// the device's (edge/tune/device_profiler.h: passes over all layers, as a decode reads
// them).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/model/layer_runner.h"
#include "common/model/llama_model.h"
#include "common/util/thread_pool.h"

namespace tandem {

// Deterministic hidden states with a plausible spread of values: [n, dim].
std::vector<float> SyntheticHidden(int32_t n, int32_t dim);

// Runs `work` on a pool and returns its wall time in seconds (or the work's error).
using LayerWork = absl::FunctionRef<absl::Status(ThreadPool&)>;
using LayerTimer = absl::FunctionRef<absl::StatusOr<double>(LayerWork)>;

// Times `work` on `pool`.
absl::StatusOr<double> TimeOnPool(ThreadPool& pool, LayerWork work);

class LayerProbe {
 public:
  // Layer `layer` with room for a decode step at position `context` and for a prompt
  // chunk of `chunk` positions.
  static absl::StatusOr<LayerProbe> Create(const LlamaModel& model, int32_t layer, int32_t context,
                                           int32_t chunk);

  // The prompt chunk `hidden` [chunk, dim] (in place) from an empty cache.
  absl::StatusOr<double> PromptChunk(absl::Span<float> hidden, LayerTimer timer);
  // Fills the cache to `context` positions in chunks (untimed; `timer` runs them).
  absl::Status FillContext(LayerTimer timer);
  // One position `hidden` [dim] (in place) after `context` cached ones.
  absl::StatusOr<double> Decode(absl::Span<float> hidden, LayerTimer timer);

 private:
  LayerProbe(std::unique_ptr<LayerRunner> runner, int32_t dim, int32_t context, int32_t chunk)
      : runner_(std::move(runner)), dim_(dim), context_(context), chunk_(chunk) {}

  std::unique_ptr<LayerRunner> runner_;
  int32_t dim_, context_, chunk_;
};

}  // namespace tandem
