// `tandem bench`: prompt-processing and decode speed (median of repetitions), peak RSS.
// The prompt is the same fixed pseudo-random token sequence the llama.cpp anchor script
// uses, so the two are timed on the same work.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/model/local_session.h"
#include "common/tool/commands.h"
#include "common/util/stats.h"
#include "common/util/status_macros.h"

namespace tandem {
namespace {

double PeakRssBytes() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux reports KiB
}

int32_t Argmax(absl::Span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

absl::Status RunBench(const BenchConfig& config, std::ostream& out, std::ostream& err) {
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                   LlamaModel::Load(config.model_path, {.load_mode = config.load_mode}));
  const LlamaHparams& hp = model->hparams();
  const int64_t context = static_cast<int64_t>(config.prompt_tokens) + config.gen_tokens;
  if (context > hp.context_length) {
    return absl::OutOfRangeError(
        absl::StrFormat("prompt + generated tokens (%d) exceed the model's context length %d",
                        context, hp.context_length));
  }
  std::vector<int32_t> prompt(config.prompt_tokens);
  prompt[0] = 1;  // BOS
  for (int32_t i = 1; i < config.prompt_tokens; ++i) {
    prompt[i] = (3 + (i * 7919) % 250) % hp.n_vocab;
  }

  ThreadPool pool(config.threads);
  ASSIGN_OR_RETURN(std::unique_ptr<LocalSession> session,
                   LocalSession::Create(*model, static_cast<int32_t>(context), pool,
                                        /*batch_size=*/512));
  using Clock = std::chrono::steady_clock;
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::vector<double> pp_rates, tg_rates;
  // One untimed warm-up pass pages the weights in, as a long-running server would have.
  for (int32_t rep = -1; rep < config.repetitions; ++rep) {
    session->Rewind(0);
    const auto t0 = Clock::now();
    ASSIGN_OR_RETURN(absl::Span<const float> logits, session->Feed(prompt));
    const auto t1 = Clock::now();
    for (int32_t i = 0; i < config.gen_tokens; ++i) {
      int32_t token = Argmax(logits);
      ASSIGN_OR_RETURN(logits, session->Feed({&token, 1}));
    }
    const auto t2 = Clock::now();
    if (rep < 0) continue;
    pp_rates.push_back(config.prompt_tokens / secs(t1 - t0));
    tg_rates.push_back(config.gen_tokens / secs(t2 - t1));
    if (!config.json) {
      err << absl::StrFormat("rep %d: pp %.2f tok/s, tg %.2f tok/s\n", rep + 1, pp_rates.back(),
                             tg_rates.back());
    }
  }
  const double pp = Median(pp_rates), tg = Median(tg_rates), rss = PeakRssBytes();
  const double file_bytes = static_cast<double>(model->gguf().file_size());
  if (config.json) {
    out << absl::StrFormat(
        "{\"model\": \"%s\", \"threads\": %d, \"prompt_tokens\": %d, \"gen_tokens\": %d, "
        "\"repetitions\": %d, \"pp_tok_s\": %.3f, \"tg_tok_s\": %.3f, \"peak_rss_bytes\": %.0f, "
        "\"model_bytes\": %.0f, \"kv_cache_bytes\": %d}\n",
        config.model_path, config.threads, config.prompt_tokens, config.gen_tokens,
        config.repetitions, pp, tg, rss, file_bytes, session->kv_cache_bytes());
  } else {
    out << absl::StrFormat(
        "model %s, %d threads\n"
        "prompt processing (%d tokens): %.2f tok/s (median of %d)\n"
        "decode (%d tokens):            %.2f tok/s (median of %d)\n"
        "peak RSS %.1f MiB (model file %.1f MiB, KV cache %.1f MiB)\n",
        config.model_path, config.threads, config.prompt_tokens, pp, config.repetitions,
        config.gen_tokens, tg, config.repetitions, rss / (1 << 20), file_bytes / (1 << 20),
        session->kv_cache_bytes() / double(1 << 20));
  }
  return absl::OkStatus();
}

}  // namespace tandem
