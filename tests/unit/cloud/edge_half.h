// The edge's half of a split run, for tests: embedding + layers [0, K) of the real model
// with its own KV cache, and the codec, producing the payload a HiddenChunk carries.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/codec/hidden_codec.h"
#include "common/model/layer_runner.h"
#include "common/model/llama_model.h"
#include "common/util/status_macros.h"
#include "common/util/thread_pool.h"

namespace tandem::cloud {

class EdgeHalf {
 public:
  static absl::StatusOr<EdgeHalf> Create(const LlamaModel& model, int32_t split,
                                         int32_t max_context = 256) {
    ASSIGN_OR_RETURN(auto runner, LayerRunner::Create(model, 0, split, max_context));
    return EdgeHalf(model, std::move(runner));
  }

  // Hidden states at the cut for `tokens` at the next positions: [n, dim].
  absl::StatusOr<std::vector<float>> Hidden(absl::Span<const int32_t> tokens) {
    const int32_t n = static_cast<int32_t>(tokens.size());
    std::vector<float> hidden(static_cast<size_t>(n) * model_->hparams().dim);
    RETURN_IF_ERROR(Embed(*model_, tokens, absl::MakeSpan(hidden)));
    RETURN_IF_ERROR(runner_->Forward(absl::MakeSpan(hidden), n, runner_->num_cached(), *pool_));
    return hidden;
  }

  // The same, encoded with `codec`.
  absl::StatusOr<std::string> Payload(absl::Span<const int32_t> tokens,
                                      CodecKind codec = CodecKind::kF32) {
    ASSIGN_OR_RETURN(std::vector<float> hidden, Hidden(tokens));
    std::string payload;
    RETURN_IF_ERROR(EncodeHidden(codec, hidden, static_cast<int32_t>(tokens.size()),
                                 model_->hparams().dim, &payload));
    return payload;
  }

  int32_t position() const { return runner_->num_cached(); }
  void Rewind(int32_t pos) { runner_->Truncate(pos); }

 private:
  EdgeHalf(const LlamaModel& model, std::unique_ptr<LayerRunner> runner)
      : model_(&model), runner_(std::move(runner)), pool_(std::make_unique<ThreadPool>(1)) {}

  const LlamaModel* model_;
  std::unique_ptr<LayerRunner> runner_;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace tandem::cloud
