#include "common/model/layer_probe.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/util/status_macros.h"

namespace tandem {

std::vector<float> SyntheticHidden(int32_t n, int32_t dim) {
  std::vector<float> h(static_cast<size_t>(n) * dim);
  for (size_t i = 0; i < h.size(); ++i) h[i] = std::sin(0.37f * static_cast<float>(i)) * 0.5f;
  return h;
}

absl::StatusOr<double> TimeOnPool(ThreadPool& pool, LayerWork work) {
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(work(pool));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::StatusOr<LayerProbe> LayerProbe::Create(const LlamaModel& model, int32_t layer,
                                              int32_t context, int32_t chunk) {
  ASSIGN_OR_RETURN(auto runner,
                   LayerRunner::Create(model, layer, layer + 1, std::max(context + 1, chunk)));
  return LayerProbe(std::move(runner), model.hparams().dim, context, chunk);
}

absl::StatusOr<double> LayerProbe::PromptChunk(absl::Span<float> hidden, LayerTimer timer) {
  runner_->Truncate(0);
  return timer([&](ThreadPool& pool) { return runner_->Forward(hidden, chunk_, 0, pool); });
}

absl::Status LayerProbe::FillContext(LayerTimer timer) {
  runner_->Truncate(0);
  std::vector<float> h;
  while (runner_->num_cached() < context_) {
    const int32_t n = std::min(chunk_, context_ - runner_->num_cached());
    h = SyntheticHidden(n, dim_);
    RETURN_IF_ERROR(timer([&](ThreadPool& pool) {
                      return runner_->Forward(absl::MakeSpan(h), n, runner_->num_cached(), pool);
                    }).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<double> LayerProbe::Decode(absl::Span<float> hidden, LayerTimer timer) {
  runner_->Truncate(context_);
  return timer([&](ThreadPool& pool) { return runner_->Forward(hidden, 1, context_, pool); });
}

}  // namespace tandem
