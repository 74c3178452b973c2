// The split pipeline in one process, for tests and the fidelity benchmark: the edge's half
// (embedding + layers [0, K), its own KV cache) and the whole run (the edge's half, the
// codec at the cut, layers [K, N) and the head, each half with its own KV cache). One
// implementation for every test that needs the edge's payloads or a split run's logits.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/codec/hidden_codec.h"
#include "common/model/layer_runner.h"
#include "common/model/llama_model.h"
#include "common/util/status_macros.h"
#include "common/util/thread_pool.h"

namespace tandem::testing_util {

// The edge's half: embedding + layers [0, split) of `model` (split == 0: the embedding
// only).
class EdgeHalf {
 public:
  static absl::StatusOr<EdgeHalf> Create(const LlamaModel& model, int32_t split,
                                         int32_t max_context = 256) {
    std::unique_ptr<LayerRunner> runner;
    if (split > 0) {
      ASSIGN_OR_RETURN(runner, LayerRunner::Create(model, 0, split, max_context));
    }
    return EdgeHalf(model, std::move(runner));
  }

  // Hidden states at the cut for `tokens` at the next positions into `hidden` [n, dim].
  absl::Status Forward(absl::Span<const int32_t> tokens, absl::Span<float> hidden,
                       ThreadPool& pool) {
    const auto n = static_cast<int32_t>(tokens.size());
    RETURN_IF_ERROR(Embed(*model_, tokens, hidden));
    if (runner_ == nullptr) {
      position_ += n;
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(runner_->Forward(hidden, n, runner_->num_cached(), pool));
    position_ = runner_->num_cached();
    return absl::OkStatus();
  }

  // The same, returned: [n, dim].
  absl::StatusOr<std::vector<float>> Hidden(absl::Span<const int32_t> tokens) {
    std::vector<float> hidden(tokens.size() * static_cast<size_t>(model_->hparams().dim));
    RETURN_IF_ERROR(Forward(tokens, absl::MakeSpan(hidden), *pool_));
    return hidden;
  }

  // The same, encoded with `codec`: what a HiddenChunk carries.
  absl::StatusOr<std::string> Payload(absl::Span<const int32_t> tokens,
                                      CodecKind codec = CodecKind::kF32) {
    ASSIGN_OR_RETURN(std::vector<float> hidden, Hidden(tokens));
    std::string payload;
    RETURN_IF_ERROR(EncodeHidden(codec, hidden, static_cast<int32_t>(tokens.size()),
                                 model_->hparams().dim, &payload));
    return payload;
  }

  int32_t position() const { return position_; }
  void Rewind(int32_t pos) {
    if (runner_ != nullptr) runner_->Truncate(pos);
    position_ = pos;
  }

 private:
  EdgeHalf(const LlamaModel& model, std::unique_ptr<LayerRunner> runner)
      : model_(&model), runner_(std::move(runner)), pool_(std::make_unique<ThreadPool>(1)) {}

  const LlamaModel* model_;
  std::unique_ptr<LayerRunner> runner_;  // null: split == 0
  std::unique_ptr<ThreadPool> pool_;     // for Hidden and Payload
  int32_t position_ = 0;
};

// A whole split run: `edge`'s embedding and layers [0, split), the hidden states at the
// cut encoded and decoded with `codec`, `cloud`'s layers [split, N) and head (the two may
// be one model, or the two shards of one). split == 0: the unsplit model, no codec.
class SplitPipeline {
 public:
  static absl::StatusOr<SplitPipeline> Create(const LlamaModel& edge, const LlamaModel& cloud,
                                              int32_t split, const HiddenCodec& codec,
                                              int32_t max_context) {
    ASSIGN_OR_RETURN(EdgeHalf edge_half, EdgeHalf::Create(edge, split, max_context));
    ASSIGN_OR_RETURN(std::unique_ptr<LayerRunner> cloud_runner,
                     LayerRunner::Create(cloud, split, cloud.hparams().n_layers, max_context));
    return SplitPipeline(std::move(edge_half), split > 0 ? &codec : nullptr, cloud,
                         std::move(cloud_runner));
  }
  static absl::StatusOr<SplitPipeline> Create(const LlamaModel& model, int32_t split,
                                              const HiddenCodec& codec, int32_t max_context) {
    return Create(model, model, split, codec, max_context);
  }

  // Runs `tokens` (one chunk) at the next positions; `logits` [rows, n_vocab] gets the head
  // on the last `rows` of them (one row: the next token's logits).
  absl::Status Step(absl::Span<const int32_t> tokens, absl::Span<float> logits, ThreadPool& pool) {
    const int32_t dim = cloud_model_->hparams().dim;
    const auto n = static_cast<int32_t>(tokens.size());
    const int32_t pos = cloud_->num_cached();
    hidden_.resize(static_cast<size_t>(n) * dim);
    absl::Span<float> hidden(hidden_);  // [n, dim]
    RETURN_IF_ERROR(edge_.Forward(tokens, hidden, pool));
    if (codec_ != nullptr) {
      RETURN_IF_ERROR(codec_->Encode(hidden, n, dim, &payload_));
      RETURN_IF_ERROR(codec_->Decode(payload_, n, dim, hidden));  // what the cloud sees
    }
    RETURN_IF_ERROR(cloud_->Forward(hidden, n, pos, pool));
    const size_t rows = logits.size() / cloud_model_->hparams().n_vocab;
    return Head(*cloud_model_, hidden.subspan((n - rows) * dim), logits, pool);
  }

  int32_t position() const { return cloud_->num_cached(); }

 private:
  SplitPipeline(EdgeHalf edge, const HiddenCodec* codec, const LlamaModel& cloud_model,
                std::unique_ptr<LayerRunner> cloud)
      : edge_(std::move(edge)),
        codec_(codec),
        cloud_model_(&cloud_model),
        cloud_(std::move(cloud)) {}

  EdgeHalf edge_;
  const HiddenCodec* codec_;  // null: unsplit
  const LlamaModel* cloud_model_;
  std::unique_ptr<LayerRunner> cloud_;
  std::vector<float> hidden_;  // [n, dim]
  std::string payload_;
};

}  // namespace tandem::testing_util
