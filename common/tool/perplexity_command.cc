// `tandem perplexity`: exp(mean negative log-likelihood) of a text, scored in windows of
// `context` tokens. Each window starts with BOS and scores its second half, so every
// scored token sees at least half a window of context (as llama.cpp's perplexity does).
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"
#include "common/model/local_session.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tool/commands.h"
#include "common/util/status_macros.h"

namespace tandem {

absl::Status RunPerplexity(const PerplexityConfig& config, std::ostream& out, std::ostream& err) {
  std::ifstream in(config.text_path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", config.text_path));
  std::stringstream text;
  text << in.rdbuf();

  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LlamaModel::Load(config.model_path));
  ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromGguf(model->gguf()));
  const int32_t n_ctx = config.context;
  if (n_ctx < 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("window %d is too small: a window holds BOS and a scored token", n_ctx));
  }
  if (n_ctx > model->hparams().context_length) {
    return absl::OutOfRangeError(absl::StrFormat("window %d exceeds the context length %d", n_ctx,
                                                 model->hparams().context_length));
  }
  std::vector<int32_t> tokens = tokenizer.Encode(text.str(), /*add_bos=*/false);
  const int64_t n_windows = static_cast<int64_t>(tokens.size()) / (n_ctx - 1);
  if (n_windows == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the text has %d tokens; at least %d are needed for one window", tokens.size(), n_ctx - 1));
  }

  ThreadPool pool(config.threads);
  ASSIGN_OR_RETURN(std::unique_ptr<LocalSession> session,
                   LocalSession::Create(*model, n_ctx, pool));
  const int32_t vocab = model->hparams().n_vocab;
  double nll = 0;
  int64_t scored = 0;
  std::vector<float> logits;
  for (int64_t w = 0; w < n_windows; ++w) {
    std::vector<int32_t> window = {tokenizer.bos_id()};
    auto begin = tokens.begin() + w * (n_ctx - 1);
    window.insert(window.end(), begin, begin + (n_ctx - 1));
    session->Rewind(0);
    RETURN_IF_ERROR(session->Feed(window, &logits).status());
    // Position i's logits predict window[i + 1]; score the second half.
    for (int32_t i = n_ctx / 2; i + 1 < n_ctx; ++i) {
      const float* row = logits.data() + static_cast<size_t>(i) * vocab;
      double max = row[0];
      for (int32_t v = 1; v < vocab; ++v) max = std::max<double>(max, row[v]);
      double sum = 0;
      for (int32_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - max);
      nll += -(row[window[i + 1]] - max - std::log(sum));
      ++scored;
    }
    err << absl::StrFormat("[%d/%d] ppl %.4f\n", w + 1, n_windows, std::exp(nll / scored));
  }
  out << absl::StrFormat("perplexity: %.4f over %d tokens (%d windows of %d)\n",
                         std::exp(nll / scored), scored, n_windows, n_ctx);
  return absl::OkStatus();
}

}  // namespace tandem
