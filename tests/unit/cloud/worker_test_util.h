// Shared helpers for the worker tests: hellos and chunks for the real model, the unsplit
// reference, and a split generation driven through the worker core.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cloud/messages.h"
#include "cloud/worker.h"
#include "common/codec/crc32c.h"
#include "common/model/local_session.h"
#include "common/util/clock.h"
#include "common/util/status_macros.h"
#include "tests/util/embedded_model.h"
#include "tests/util/split_pipeline.h"

namespace tandem::cloud {

using ::tandem::testing_util::EdgeHalf;

// A worker on the embedded model, or null (and a test failure) if it does not start.
inline std::unique_ptr<Worker> MakeTestWorker(const Clock& clock, WorkerLimits limits = {},
                                              int threads = 2) {
  auto worker = Worker::Create(
      {.model_path = TANDEM_TEST_MODEL, .threads = threads, .limits = limits}, clock);
  EXPECT_TRUE(worker.ok()) << worker.status();
  return worker.ok() ? *std::move(worker) : nullptr;
}

// A prompt of token ids from the model's 512-token vocabulary (starts with BOS).
inline std::vector<int32_t> TestPrompt(int variant = 0) {
  std::vector<int32_t> p = {1, 400, 35, 120, 77, 300, 12, 250, 9};
  for (size_t i = 1; i < p.size(); ++i) p[i] = (p[i] + 37 * variant) % 512;
  return p;
}

inline OpenRequest GreedyHello(const LlamaModel& model, int32_t split, std::string session_id) {
  OpenRequest r;
  r.protocol_version = wire::kMaxProtocolVersion;
  r.model_id = model.identity();
  r.n_layers = model.hparams().n_layers;
  r.split_layer = split;
  r.hidden_dim = model.hparams().dim;
  r.codec = CodecKind::kF32;
  r.sampling = SamplingParams{.temperature = 0, .top_k = 0, .top_p = 1, .seed = 0};
  r.session_id = std::move(session_id);
  r.max_context = 128;
  return r;
}

inline ChunkRequest Chunk(int32_t start, int32_t n, const std::string& payload, bool sample,
                          CodecKind codec = CodecKind::kF32) {
  return ChunkRequest{.start_position = start,
                      .num_positions = n,
                      .codec = codec,
                      .payload = payload,
                      .payload_crc32c = Crc32c(payload),
                      .sample = sample};
}

inline int32_t Argmax(absl::Span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// Greedy continuation of `prompt` by the whole model run locally (the reference).
inline absl::StatusOr<std::vector<int32_t>> ReferenceGreedy(const LlamaModel& model,
                                                            const std::vector<int32_t>& prompt,
                                                            int n) {
  ThreadPool pool(1);
  ASSIGN_OR_RETURN(auto session, LocalSession::Create(model, 128, pool));
  ASSIGN_OR_RETURN(absl::Span<const float> logits, session->Feed(prompt));
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Argmax(logits));
    if (i + 1 < n) {
      ASSIGN_OR_RETURN(logits, session->Feed({out.back()}));
    }
  }
  return out;
}

// Greedy continuation through the worker: the edge half runs [0, K), the worker the rest.
// The prompt goes in chunks of `chunk` positions; only the last one samples.
inline absl::StatusOr<std::vector<int32_t>> SplitGreedy(Worker& worker, const LlamaModel& model,
                                                        int32_t split, const std::string& id,
                                                        const std::vector<int32_t>& prompt, int n,
                                                        int32_t chunk = 4) {
  ASSIGN_OR_RETURN(EdgeHalf edge, EdgeHalf::Create(model, split));
  ASSIGN_OR_RETURN(Worker::Opened opened, worker.Open(GreedyHello(model, split, id)));
  std::vector<int32_t> out;
  StepReply reply;
  for (size_t start = 0; start < prompt.size(); start += chunk) {
    const size_t len = std::min<size_t>(chunk, prompt.size() - start);
    ASSIGN_OR_RETURN(std::string payload,
                     edge.Payload(absl::MakeConstSpan(prompt).subspan(start, len)));
    ASSIGN_OR_RETURN(reply, worker.Step(opened.attachment, Chunk(static_cast<int32_t>(start),
                                                                 static_cast<int32_t>(len), payload,
                                                                 start + len == prompt.size())));
  }
  for (int i = 0; i < n; ++i) {
    if (!reply.token.has_value()) return absl::InternalError("no token in the reply");
    out.push_back(reply.token->token_id);
    if (i + 1 == n) break;
    const int32_t pos = edge.position();
    ASSIGN_OR_RETURN(std::string payload, edge.Payload({out.back()}));
    ASSIGN_OR_RETURN(reply, worker.Step(opened.attachment, Chunk(pos, 1, payload, true)));
  }
  worker.Detach(opened.attachment);
  return out;
}

}  // namespace tandem::cloud
