#include "edge/tune/worker_calibrator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/codec/hidden_codec.h"
#include "common/util/status_macros.h"

namespace tandem::tune {
namespace {

// Rows [start, start + n) of deterministic, finite hidden states.
std::vector<float> Rows(int32_t start, int32_t n, int32_t dim) {
  std::vector<float> h(static_cast<size_t>(n) * dim);
  for (size_t i = 0; i < h.size(); ++i) {
    h[i] = std::sin(0.37f * static_cast<float>(i + static_cast<size_t>(start) * dim)) * 0.5f;
  }
  return h;
}

}  // namespace

absl::StatusOr<double> TimeWorkerSteps(edge::CloudLink& link, const StepProbe& p) {
  if (p.steps < 1 || p.prompt_positions < 1) {
    return absl::InvalidArgumentError("steps and prompt positions must be >= 1");
  }
  const int32_t dim = p.model->hparams().dim;
  edge::SessionHello hello{
      .session_id = absl::StrFormat("tandem-tune-%d-%d", p.split, absl::ToUnixNanos(absl::Now())),
      .model_id = p.model->identity(),
      .n_layers = p.model->hparams().n_layers,
      .split_layer = p.split,
      .hidden_dim = dim,
      .codec = p.codec,
      .sampling = SamplingParams{.temperature = 0, .top_k = 0, .top_p = 1, .seed = 0},
      .max_context = p.prompt_positions + p.steps};
  ASSIGN_OR_RETURN(std::unique_ptr<edge::CloudStream> stream,
                   link.Open(hello, absl::Now() + p.timeout));
  auto step = [&](int32_t start, int32_t n) -> absl::StatusOr<double> {
    edge::HiddenChunk chunk{
        .start_position = start, .num_positions = n, .codec = p.codec, .sample = true};
    RETURN_IF_ERROR(EncodeHidden(p.codec, Rows(start, n, dim), n, dim, &chunk.payload));
    const auto begin = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(stream->Send(chunk, absl::Now() + p.timeout));
    RETURN_IF_ERROR(stream->Receive(absl::Now() + p.timeout).status());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  };
  absl::Status status;
  std::vector<double> seconds;
  // The prompt in chunks the worker accepts.
  const int32_t max_chunk = std::max(1, stream->ready().max_chunk_positions);
  for (int32_t pos = 0; pos < p.prompt_positions && status.ok();) {
    const int32_t n = std::min(max_chunk, p.prompt_positions - pos);
    status = step(pos, n).status();
    pos += n;
  }
  for (int32_t i = 0; i < p.steps && status.ok(); ++i) {
    absl::StatusOr<double> s = step(p.prompt_positions + i, 1);
    if (s.ok()) {
      seconds.push_back(*s);
    } else {
      status = s.status();
    }
  }
  const absl::Status closed = stream->Close(absl::Now() + p.timeout);
  RETURN_IF_ERROR(status);
  RETURN_IF_ERROR(closed);
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

}  // namespace tandem::tune
