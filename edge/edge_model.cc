#include "edge/edge_model.h"

#include "absl/strings/str_format.h"
#include "common/util/status_macros.h"

namespace tandem::edge {

absl::StatusOr<std::unique_ptr<EdgeModel>> EdgeModel::Load(const std::string& path, int32_t split) {
  if (split < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("split point %d: the edge must run at least one layer", split));
  }
  LoadOptions options{.layer_begin = 0, .layer_end = split, .embedding = true, .head = false};
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LlamaModel::Load(path, options));
  const int32_t n_layers = model->hparams().n_layers;
  if (split >= n_layers) {
    return absl::InvalidArgumentError(
        absl::StrFormat("split point %d: the model has %d layers, so K must be in [1, %d]", split,
                        n_layers, n_layers - 1));
  }
  ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromGguf(model->gguf()));
  if (tokenizer.vocab_size() != model->hparams().n_vocab) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: the tokenizer has %d tokens but the model's vocabulary is %d", path,
                        tokenizer.vocab_size(), model->hparams().n_vocab));
  }
  std::string name = ModelName(model->gguf(), path);
  absl::StatusOr<std::string> source = model->gguf().GetString("tokenizer.chat_template");
  std::unique_ptr<EdgeModel> edge(
      new EdgeModel(std::move(model), std::move(tokenizer), std::move(name)));
  edge->chat_template_ = ChatTemplate::Recognize(source.ok() ? *source : "", edge->tokenizer_,
                                                 &edge->chat_template_warning_);
  return edge;
}

}  // namespace tandem::edge
