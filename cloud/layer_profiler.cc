#include "cloud/layer_profiler.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "cloud/token_sampling.h"
#include "common/model/layer_probe.h"
#include "common/util/stats.h"
#include "common/util/status_macros.h"

namespace tandem::cloud {
namespace {

// Runs fn on the pool in its own scheduler step and returns its wall time in seconds;
// Cancelled instead once the caller gave up (the profile stops burning CPU).
absl::StatusOr<double> TimeStep(StepScheduler& scheduler, const ProfileCancelled& cancelled,
                                LayerWork fn) {
  if (cancelled && cancelled()) return absl::CancelledError("the profile was cancelled");
  absl::StatusOr<double> seconds;
  RETURN_IF_ERROR(scheduler.Run([&](ThreadPool& pool) { seconds = TimeOnPool(pool, fn); }));
  return seconds;
}

// Median time of `reps` forward passes of layer `layer`: a prompt chunk of `chunk`
// positions from an empty cache, and one decode position after `context` cached ones.
absl::StatusOr<LayerTiming> ProfileLayer(const LlamaModel& model, int32_t layer,
                                         const ProfileRequest& r, StepScheduler& scheduler,
                                         const ProfileCancelled& cancelled) {
  const int32_t dim = model.hparams().dim;
  // The decode step runs at position `context` and needs one more cache slot.
  const int32_t context = std::min(r.context_positions, model.hparams().context_length - 1);
  ASSIGN_OR_RETURN(LayerProbe probe,
                   LayerProbe::Create(model, layer, context, r.prompt_chunk_positions));
  const auto timer = [&](LayerWork fn) { return TimeStep(scheduler, cancelled, fn); };
  LayerTiming timing{.layer = layer};
  std::vector<double> samples;
  std::vector<float> hidden;
  for (int32_t i = 0; i < r.repetitions; ++i) {
    hidden = SyntheticHidden(r.prompt_chunk_positions, dim);  // Forward works in place
    ASSIGN_OR_RETURN(double s, probe.PromptChunk(absl::MakeSpan(hidden), timer));
    samples.push_back(s);
  }
  timing.prompt_chunk_seconds = Median(samples);

  RETURN_IF_ERROR(probe.FillContext(timer));
  samples.clear();
  for (int32_t i = 0; i < r.repetitions; ++i) {
    hidden = SyntheticHidden(1, dim);
    ASSIGN_OR_RETURN(double s, probe.Decode(absl::MakeSpan(hidden), timer));
    samples.push_back(s);
  }
  timing.decode_seconds = Median(samples);
  return timing;
}

}  // namespace

absl::StatusOr<ProfileResult> ProfileLayers(const LlamaModel& model, const ProfileRequest& request,
                                            StepScheduler& scheduler,
                                            const ProfileCancelled& cancelled) {
  const LlamaHparams& hp = model.hparams();
  ProfileRequest r = request;
  if (r.end_layer == 0) r.end_layer = hp.n_layers;
  if (r.repetitions == 0) r.repetitions = kDefaultProfileRepetitions;
  if (r.first_layer < model.layer_begin() || r.end_layer > model.layer_end() ||
      r.first_layer >= r.end_layer) {
    return absl::InvalidArgumentError(
        absl::StrFormat("layer range [%d, %d) is empty or outside the loaded layers [%d, %d)",
                        r.first_layer, r.end_layer, model.layer_begin(), model.layer_end()));
  }
  if (r.context_positions < 1 || r.prompt_chunk_positions < 1 || r.repetitions < 1) {
    return absl::InvalidArgumentError(
        "context positions, prompt chunk positions and repetitions must be >= 1");
  }
  if (r.context_positions > hp.context_length || r.prompt_chunk_positions > hp.context_length) {
    return absl::OutOfRangeError(absl::StrFormat(
        "context positions %d / prompt chunk positions %d exceed the model's context length %d",
        r.context_positions, r.prompt_chunk_positions, hp.context_length));
  }

  ProfileResult result{.effective = r, .threads = scheduler.threads()};
  for (int32_t l = r.first_layer; l < r.end_layer; ++l) {
    ASSIGN_OR_RETURN(LayerTiming t, ProfileLayer(model, l, r, scheduler, cancelled));
    result.layers.push_back(t);
  }

  if (model.has_head()) {
    std::vector<float> hidden = SyntheticHidden(1, hp.dim);
    std::vector<float> logits(hp.n_vocab);
    std::vector<double> samples;
    Sampler sampler(SamplingParams{});
    for (int32_t i = 0; i < r.repetitions; ++i) {
      ASSIGN_OR_RETURN(double s, TimeStep(scheduler, cancelled, [&](ThreadPool& pool) {
                         RETURN_IF_ERROR(Head(model, hidden, absl::MakeSpan(logits), pool));
                         sampler.Sample(logits, 0);
                         return absl::OkStatus();
                       }));
      samples.push_back(s);
    }
    result.head_decode_seconds = Median(samples);
  }
  return result;
}

}  // namespace tandem::cloud
