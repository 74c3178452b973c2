// What the edge loads: the embedding and layers [0, K) of the model (never the head or the
// other layers, so a device needs only its part of the weights) and the tokenizer from the
// same file. Read-only after loading; shared by all generations.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/model/llama_model.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"

namespace tandem::edge {

class EdgeModel {
 public:
  // InvalidArgument unless 1 <= split < n_layers (K >= 1 keeps token ids on the device,
  // K < N leaves the worker something to run); the loader's errors otherwise.
  static absl::StatusOr<std::unique_ptr<EdgeModel>> Load(const std::string& path, int32_t split);

  const LlamaModel& model() const { return *model_; }
  const LlamaHparams& hparams() const { return model_->hparams(); }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  // The model's chat format (tokenizer.chat_template, recognised by family).
  const ChatTemplate& chat_template() const { return chat_template_; }
  // Why the chat format is a fallback ("" if it is not): logged once at start-up.
  const std::string& chat_template_warning() const { return chat_template_warning_; }
  int32_t split() const { return model_->layer_end(); }
  // general.name, else the file name without extension: the API's model id.
  const std::string& name() const { return name_; }

 private:
  EdgeModel(std::unique_ptr<LlamaModel> model, Tokenizer tokenizer, std::string name)
      : model_(std::move(model)), tokenizer_(std::move(tokenizer)), name_(std::move(name)) {}

  std::unique_ptr<LlamaModel> model_;
  Tokenizer tokenizer_;
  ChatTemplate chat_template_;
  std::string chat_template_warning_;
  std::string name_;
};

}  // namespace tandem::edge
