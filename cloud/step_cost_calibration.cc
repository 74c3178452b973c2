#include "cloud/step_cost_calibration.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "common/model/layer_runner.h"
#include "common/util/status_macros.h"

namespace tandem::cloud {
namespace {

// `rows` one-position decode steps, one runner each.
class CalibrationBatch {
 public:
  static absl::StatusOr<CalibrationBatch> Create(const LlamaModel& model, int32_t first_split,
                                                 int32_t rows) {
    CalibrationBatch batch;
    const auto& hp = model.hparams();
    batch.input_.resize(static_cast<size_t>(rows) * hp.dim);
    // Values of a plausible size; the kernels' cost does not depend on them.
    for (size_t i = 0; i < batch.input_.size(); ++i) {
      batch.input_[i] = 0.5f * std::sin(0.01f * static_cast<float>(i));
    }
    batch.hidden_ = batch.input_;
    batch.logits_.resize(static_cast<size_t>(rows) * hp.n_vocab);
    for (int32_t r = 0; r < rows; ++r) {
      ASSIGN_OR_RETURN(std::unique_ptr<LayerRunner> runner,
                       LayerRunner::Create(model, first_split, hp.n_layers, 1));
      batch.jobs_.push_back(
          {.runner = runner.get(),
           .hidden = absl::MakeSpan(batch.hidden_).subspan(static_cast<size_t>(r) * hp.dim, hp.dim),
           .n = 1,
           .pos = 0,
           .logits = absl::MakeSpan(batch.logits_)
                         .subspan(static_cast<size_t>(r) * hp.n_vocab, hp.n_vocab)});
      batch.runners_.push_back(std::move(runner));
    }
    return batch;
  }

  // One step of every sequence, from the same input at position 0 each time.
  absl::Status Run(StepScheduler& scheduler) {
    for (auto& runner : runners_) runner->Truncate(0);
    std::copy(input_.begin(), input_.end(), hidden_.begin());
    return scheduler.RunAsOneBatch(jobs_);
  }

 private:
  std::vector<std::unique_ptr<LayerRunner>> runners_;
  std::vector<float> input_;
  std::vector<float> hidden_;  // the layers update it in place
  std::vector<float> logits_;
  std::vector<LayerJob> jobs_;
};

}  // namespace

absl::Status CalibrateStepCost(const LlamaModel& model, int32_t first_split, int32_t max_rows,
                               int32_t repetitions, StepScheduler& scheduler) {
  std::vector<CalibrationBatch> batches;
  for (int32_t rows = 1; rows <= max_rows; rows *= 2) {
    ASSIGN_OR_RETURN(CalibrationBatch batch, CalibrationBatch::Create(model, first_split, rows));
    batches.push_back(std::move(batch));
  }
  for (CalibrationBatch& batch : batches) RETURN_IF_ERROR(batch.Run(scheduler));
  scheduler.ForgetCosts();
  for (int32_t i = 0; i < repetitions; ++i) {
    for (CalibrationBatch& batch : batches) RETURN_IF_ERROR(batch.Run(scheduler));
  }
  return absl::OkStatus();
}

}  // namespace tandem::cloud
