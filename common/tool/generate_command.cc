// `tandem generate`: tokenize, prefill, sample and stream the continuation.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_format.h"
#include "common/model/local_session.h"
#include "common/sampler/sampler.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tool/commands.h"
#include "common/util/status_macros.h"

namespace tandem {

absl::Status RunGenerate(const GenerateConfig& config, std::ostream& out, std::ostream& err) {
  RETURN_IF_ERROR(config.sampling.Validate());
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                   LlamaModel::Load(config.model_path, {.load_mode = config.load_mode}));
  ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromGguf(model->gguf()));
  const int32_t limit = model->hparams().context_length;

  std::vector<int32_t> prompt = tokenizer.Encode(config.prompt, tokenizer.add_bos());
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (static_cast<int64_t>(prompt.size()) > limit) {
    return absl::OutOfRangeError(
        absl::StrFormat("the prompt is %d tokens, longer than the model's context length %d",
                        prompt.size(), limit));
  }
  int64_t wanted =
      config.context > 0 ? config.context : static_cast<int64_t>(prompt.size()) + config.n_predict;
  const int32_t context = static_cast<int32_t>(std::min<int64_t>(wanted, limit));
  if (static_cast<int32_t>(prompt.size()) > context) {
    return absl::OutOfRangeError(absl::StrFormat(
        "the prompt is %d tokens, longer than the context size %d", prompt.size(), context));
  }

  ThreadPool pool(config.threads);
  ASSIGN_OR_RETURN(std::unique_ptr<LocalSession> session,
                   LocalSession::Create(*model, context, pool));
  Sampler sampler(config.sampling);

  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  ASSIGN_OR_RETURN(absl::Span<const float> logits, session->Feed(prompt));
  const auto t1 = Clock::now();
  int32_t generated = 0;
  while (generated < config.n_predict) {
    int32_t token = sampler.Sample(logits);
    if (token == tokenizer.eos_id()) break;
    out << tokenizer.TokenToPiece(token) << std::flush;
    ++generated;
    if (generated == config.n_predict || session->position() >= context) break;
    ASSIGN_OR_RETURN(logits, session->Feed({&token, 1}));
  }
  const auto t2 = Clock::now();
  out << "\n";

  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  err << absl::StrFormat(
      "prompt: %d tokens in %.3f s (%.2f tok/s); generated: %d tokens in %.3f s (%.2f tok/s)\n",
      prompt.size(), secs(t1 - t0), prompt.size() / secs(t1 - t0), generated, secs(t2 - t1),
      generated > 1 ? (generated - 1) / secs(t2 - t1) : 0.0);
  return absl::OkStatus();
}

}  // namespace tandem
