// `tandem generate`: tokenize, prefill, sample and stream the continuation; or, with
// --json, print one JSON object (ids, text, timings and optionally top logprobs, in
// llama-server's names) when done.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_format.h"
#include "common/model/local_session.h"
#include "common/sampler/logprobs.h"
#include "common/sampler/sampler.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tool/commands.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

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
  using Json = nlohmann::ordered_json;
  const auto t0 = Clock::now();
  ASSIGN_OR_RETURN(absl::Span<const float> logits, session->Feed(prompt));
  const auto t1 = Clock::now();
  std::vector<int32_t> ids;
  std::string text;
  Json probabilities = Json::array();  // llama-server's completion_probabilities
  std::vector<TokenLogprob> top;
  while (static_cast<int32_t>(ids.size()) < config.n_predict) {
    // Keyed to the position, as the worker and the fallback draw: the same --seed gives
    // the same text locally and split.
    int32_t token = sampler.Sample(logits, session->position() - 1);
    if (tokenizer.IsEog(token)) break;
    if (config.logprobs > 0) {  // one entry per id, most likely first
      const float logprob = LogprobOf(logits, token, config.logprobs, &top);
      Json alternatives = Json::array();
      for (const TokenLogprob& t : top) alternatives.push_back({t.token, t.logprob});
      probabilities.push_back(
          {{"id", token}, {"logprob", logprob}, {"top_logprobs", alternatives}});
    }
    const std::string piece = tokenizer.TokenToPiece(token);
    ids.push_back(token);
    text += piece;
    if (!config.json) out << piece << std::flush;
    if (static_cast<int32_t>(ids.size()) == config.n_predict || session->position() >= context) {
      break;
    }
    ASSIGN_OR_RETURN(logits, session->Feed({&token, 1}));
  }
  const auto t2 = Clock::now();

  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  const double prompt_ms = ms(t1 - t0), predicted_ms = ms(t2 - t1);
  const size_t generated = ids.size();
  // Decode speed counts the steps after the first token, which came with the prompt.
  const double decode_per_second = generated > 1 ? (generated - 1) / (predicted_ms / 1000) : 0.0;
  if (config.json) {
    Json result{{"prompt_ids", prompt},
                {"ids", ids},
                {"text", text},
                {"timings",
                 {{"prompt_n", prompt.size()},
                  {"prompt_ms", prompt_ms},
                  {"prompt_per_second", prompt.size() / (prompt_ms / 1000)},
                  {"predicted_n", generated},
                  {"predicted_ms", predicted_ms},
                  {"predicted_per_second", decode_per_second}}}};
    if (config.logprobs > 0) result["completion_probabilities"] = probabilities;
    // Pieces may split a UTF-8 character; such bytes become U+FFFD rather than an error.
    out << result.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  } else {
    out << "\n";
  }
  err << absl::StrFormat(
      "prompt: %d tokens in %.3f s (%.2f tok/s); generated: %d tokens in %.3f s (%.2f tok/s)\n",
      prompt.size(), prompt_ms / 1000, prompt.size() / (prompt_ms / 1000), generated,
      predicted_ms / 1000, decode_per_second);
  return absl::OkStatus();
}

}  // namespace tandem
