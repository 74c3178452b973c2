#include "edge/loadgen.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/codec/hidden_codec.h"
#include "common/model/layer_runner.h"
#include "common/util/status_macros.h"
#include "common/util/thread_pool.h"

namespace tandem::edge {
namespace {

// The hidden states at the cut of every position a session sends: [positions, dim].
absl::StatusOr<std::vector<float>> CutHiddenStates(const EdgeModel& model, int32_t positions,
                                                   uint64_t seed) {
  const LlamaHparams& hp = model.hparams();
  std::mt19937_64 rng(seed);
  std::vector<int32_t> tokens(positions);
  tokens[0] = model.tokenizer().bos_id();
  for (int32_t i = 1; i < positions; ++i) {
    tokens[i] = static_cast<int32_t>(rng() % static_cast<uint64_t>(hp.n_vocab));
  }
  std::vector<float> hidden(static_cast<size_t>(positions) * hp.dim);
  RETURN_IF_ERROR(Embed(model.model(), tokens, absl::MakeSpan(hidden)));
  ASSIGN_OR_RETURN(auto runner, LayerRunner::Create(model.model(), 0, model.split(), positions));
  ThreadPool pool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  RETURN_IF_ERROR(runner->Forward(absl::MakeSpan(hidden), positions, 0, pool));
  return hidden;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

struct SessionOutcome {
  absl::Status status;
  int64_t tokens = 0;
  std::vector<double> step_ms;
  std::vector<double> step_started_ms;  // after the load began
};

}  // namespace

absl::Status LoadgenConfig::Validate() const {
  if (sessions < 1 || sessions > 4096) {
    return absl::InvalidArgumentError("--sessions must be in [1, 4096]");
  }
  if (prompt_tokens < 1) return absl::InvalidArgumentError("--prompt-tokens must be >= 1");
  if (gen_tokens < 1) return absl::InvalidArgumentError("--gen-tokens must be >= 1");
  if (token_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--token-deadline-ms must be positive");
  }
  return absl::OkStatus();
}

std::string LoadgenResult::ToJson() const {
  std::string slow;
  for (const SlowStep& st : slowest) {
    absl::StrAppendFormat(&slow,
                          "%s{\"session\": %d, \"step\": %d, \"ms\": %.2f, "
                          "\"started_ms\": %.1f}",
                          slow.empty() ? "" : ", ", st.session, st.step, st.ms, st.started_ms);
  }
  return absl::StrFormat(
      "{\"sessions\": %d, \"admitted\": %d, \"refused\": %d, \"failed\": %d, \"tokens\": %d, "
      "\"seconds\": %.3f, \"aggregate_tok_s\": %.2f, \"p50_step_ms\": %.2f, "
      "\"p99_step_ms\": %.2f, \"deadline_misses\": %d, \"slowest_steps\": [%s]}",
      sessions, admitted, refused, failed, tokens, seconds, aggregate_tok_s, p50_step_ms,
      p99_step_ms, deadline_misses, slow);
}

absl::StatusOr<LoadgenResult> RunLoad(const EdgeModel& model, CloudLink& link,
                                      const LoadgenConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  const LlamaHparams& hp = model.hparams();
  const int32_t positions = config.prompt_tokens + config.gen_tokens - 1;
  if (positions > hp.context_length) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d positions exceed the model's context of %d", positions, hp.context_length));
  }
  ASSIGN_OR_RETURN(const std::vector<float> hidden, CutHiddenStates(model, positions, config.seed));
  const int32_t dim = hp.dim;
  auto rows = [&](int32_t start, int32_t n) {
    return absl::MakeConstSpan(hidden.data() + static_cast<size_t>(start) * dim,
                               static_cast<size_t>(n) * dim);
  };

  std::vector<SessionOutcome> outcomes(config.sessions);
  absl::Mutex mu;
  int32_t ready = 0;
  bool go = false;
  absl::Time load_start;  // set before `go`, read after it
  auto run_session = [&](int32_t index) {
    SessionOutcome& out = outcomes[index];
    {
      absl::MutexLock lock(&mu);
      ++ready;
      mu.Await(absl::Condition(&go));
    }
    SessionHello hello{.session_id = absl::StrFormat("loadgen-%d-%d", config.seed, index),
                       .model_id = model.model().identity(),
                       .n_layers = hp.n_layers,
                       .split_layer = model.split(),
                       .hidden_dim = dim,
                       .codec = config.codec,
                       .sampling = {.temperature = 0},
                       .max_context = positions,
                       .token_deadline = config.token_deadline};
    auto stream = link.Open(hello, absl::Now() + config.step_timeout);
    if (!stream.ok()) {
      out.status = stream.status();
      return;
    }
    const int32_t chunk_limit = std::max(1, (*stream)->ready().max_chunk_positions);
    auto step = [&](int32_t start, int32_t n, bool sample) -> absl::Status {
      HiddenChunk chunk{
          .start_position = start, .num_positions = n, .codec = config.codec, .sample = sample};
      RETURN_IF_ERROR(EncodeHidden(config.codec, rows(start, n), n, dim, &chunk.payload));
      RETURN_IF_ERROR((*stream)->Send(chunk, absl::Now() + config.step_timeout));
      if (!sample) return absl::OkStatus();
      RETURN_IF_ERROR((*stream)->Receive(absl::Now() + config.step_timeout).status());
      ++out.tokens;
      return absl::OkStatus();
    };
    // The prompt, sampling after its last position.
    for (int32_t start = 0; start < config.prompt_tokens && out.status.ok();) {
      const int32_t n = std::min(chunk_limit, config.prompt_tokens - start);
      out.status = step(start, n, start + n == config.prompt_tokens);
      start += n;
    }
    // Decode steps: one position each, timed from send to token.
    for (int32_t pos = config.prompt_tokens; pos < positions && out.status.ok(); ++pos) {
      const absl::Time t0 = absl::Now();
      out.status = step(pos, 1, true);
      out.step_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      out.step_started_ms.push_back(absl::ToDoubleMilliseconds(t0 - load_start));
    }
    if (out.status.ok()) out.status = (*stream)->Close(absl::Now() + config.step_timeout);
  };

  std::vector<std::thread> threads;
  for (int32_t i = 0; i < config.sessions; ++i) threads.emplace_back(run_session, i);
  {
    absl::MutexLock lock(&mu);
    auto all_ready = [&] { return ready == config.sessions; };
    mu.Await(absl::Condition(&all_ready));
  }
  {
    absl::MutexLock lock(&mu);
    load_start = absl::Now();
    go = true;
  }
  const absl::Time start = load_start;
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  LoadgenResult result{.sessions = config.sessions, .seconds = seconds};
  std::vector<double> steps;
  for (const SessionOutcome& o : outcomes) {
    if (o.status.code() == absl::StatusCode::kResourceExhausted && o.tokens == 0) {
      ++result.refused;
      continue;
    }
    ++result.admitted;
    if (!o.status.ok()) {
      ++result.failed;
      if (result.first_error.empty()) result.first_error = o.status.ToString();
    }
    result.tokens += o.tokens;
    for (size_t i = 0; i < o.step_ms.size(); ++i) {
      const double ms = o.step_ms[i];
      steps.push_back(ms);
      if (ms > absl::ToDoubleMilliseconds(config.token_deadline)) ++result.deadline_misses;
      result.slowest.push_back({.session = static_cast<int32_t>(&o - outcomes.data()),
                                .step = static_cast<int32_t>(i),
                                .ms = ms,
                                .started_ms = o.step_started_ms[i]});
    }
  }
  constexpr size_t kSlowest = 5;
  auto slower = [](const LoadgenResult::SlowStep& a, const LoadgenResult::SlowStep& b) {
    return a.ms > b.ms;
  };
  if (result.slowest.size() > kSlowest) {
    std::partial_sort(result.slowest.begin(), result.slowest.begin() + kSlowest,
                      result.slowest.end(), slower);
    result.slowest.resize(kSlowest);
  } else {
    std::sort(result.slowest.begin(), result.slowest.end(), slower);
  }
  result.aggregate_tok_s = seconds > 0 ? static_cast<double>(result.tokens) / seconds : 0;
  result.p50_step_ms = Percentile(steps, 0.50);
  result.p99_step_ms = Percentile(steps, 0.99);
  return result;
}

}  // namespace tandem::edge
