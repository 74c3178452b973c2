#include "edge/tune/device_profiler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "common/codec/hidden_codec.h"
#include "common/model/layer_probe.h"
#include "common/model/local_session.h"
#include "common/util/stats.h"
#include "common/util/status_macros.h"
#include "common/util/thread_pool.h"

namespace tandem::tune {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::Status ValidateOptions(const LlamaModel& model, const DeviceProfileOptions& o) {
  const int32_t limit = model.hparams().context_length;
  if (o.threads < 1 || o.context_positions < 1 || o.prompt_chunk_positions < 1 ||
      o.repetitions < 1) {
    return absl::InvalidArgumentError(
        "threads, context positions, prompt chunk positions and repetitions must be >= 1");
  }
  if (o.context_positions >= limit || o.prompt_chunk_positions > limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "context positions %d / prompt chunk positions %d do not fit the context length %d",
        o.context_positions, o.prompt_chunk_positions, limit));
  }
  if (o.codecs.empty()) return absl::InvalidArgumentError("no codec to measure");
  for (CodecKind codec : o.codecs) {
    RETURN_IF_ERROR(ValidateCodecDim(codec, model.hparams().dim));
  }
  if (!model.has_embedding() || model.layer_begin() != 0 || model.layer_end() < 1) {
    return absl::FailedPreconditionError(
        "the device profile needs the embedding and layers from 0 (a whole model or an edge "
        "shard)");
  }
  return absl::OkStatus();
}

// Median encode and decode time of one row `row` with `codec`.
absl::StatusOr<CodecCost> MeasureCodec(CodecKind codec, const std::vector<float>& row,
                                       int32_t dim) {
  constexpr int kRuns = 51;
  CodecCost cost{.kind = codec, .row_bytes = static_cast<double>(EncodedSize(codec, 1, dim))};
  std::string payload;
  std::vector<float> decoded(dim);
  std::vector<double> encode, decode;
  for (int i = 0; i < kRuns; ++i) {
    auto start = Clock::now();
    RETURN_IF_ERROR(EncodeHidden(codec, row, 1, dim, &payload));
    encode.push_back(SecondsSince(start));
    start = Clock::now();
    RETURN_IF_ERROR(DecodeHidden(codec, payload, 1, dim, absl::MakeSpan(decoded)));
    decode.push_back(SecondsSince(start));
  }
  cost.encode_seconds = Median(encode);
  cost.decode_seconds = Median(decode);
  return cost;
}

}  // namespace

MemoryModel MeasureMemory(const LlamaModel& model) {
  const LlamaHparams& hp = model.hparams();
  MemoryModel m;
  m.layer_bytes.assign(hp.n_layers, 0);
  for (const GgufTensorInfo& t : model.gguf().tensors()) {
    int layer = -1;
    if (t.name == "token_embd.weight") {
      m.embedding_bytes = static_cast<int64_t>(t.data.size());
    } else if (std::sscanf(t.name.c_str(), "blk.%d.", &layer) == 1 && layer >= 0 &&
               layer < hp.n_layers) {
      m.layer_bytes[layer] += static_cast<int64_t>(t.data.size());
    }
  }
  m.kv_bytes_per_layer_position = int64_t{2} * sizeof(float) * hp.kv_dim();
  // LayerRunner's scratch (x, q, attention out, k, v, gate, up) and the edge's hidden row.
  m.scratch_bytes_per_position =
      static_cast<int64_t>(sizeof(float)) * (4 * hp.dim + 2 * hp.kv_dim() + 2 * hp.ffn_dim);
  return m;
}

absl::StatusOr<DeviceMeasurement> ProfileDevice(const LlamaModel& model,
                                                const DeviceProfileOptions& o) {
  RETURN_IF_ERROR(ValidateOptions(model, o));
  const LlamaHparams& hp = model.hparams();
  const int32_t dim = hp.dim, end = model.layer_end(), chunk = o.prompt_chunk_positions;
  const int32_t context = o.context_positions;
  ThreadPool pool(o.threads);
  const auto timer = [&](LayerWork work) { return TimeOnPool(pool, work); };
  std::vector<LayerProbe> probes;
  for (int32_t l = 0; l < end; ++l) {
    ASSIGN_OR_RETURN(LayerProbe probe, LayerProbe::Create(model, l, context, chunk));
    probes.push_back(std::move(probe));
  }
  std::vector<std::vector<double>> chunk_samples(end), decode_samples(end);

  // Prompt chunks from an empty cache; pass 0 pages the weights in and is not kept.
  std::vector<float> h;
  for (int32_t pass = 0; pass <= o.repetitions; ++pass) {
    h = SyntheticHidden(chunk, dim);
    for (int32_t l = 0; l < end; ++l) {
      ASSIGN_OR_RETURN(double s, probes[l].PromptChunk(absl::MakeSpan(h), timer));
      if (pass > 0) chunk_samples[l].push_back(s);
    }
  }
  // Fill every cache to `context` positions (untimed), then time single positions there.
  for (LayerProbe& probe : probes) RETURN_IF_ERROR(probe.FillContext(timer));
  for (int32_t pass = 0; pass <= o.repetitions; ++pass) {
    h = SyntheticHidden(1, dim);
    for (int32_t l = 0; l < end; ++l) {
      ASSIGN_OR_RETURN(double s, probes[l].Decode(absl::MakeSpan(h), timer));
      if (pass > 0) decode_samples[l].push_back(s);
    }
  }

  DeviceMeasurement m;
  SideProfile& p = m.profile;
  p.layers.assign(hp.n_layers, LayerCost{});
  p.first_layer = 0;
  p.end_layer = end;
  p.prompt_chunk_positions = chunk;
  for (int32_t l = 0; l < end; ++l) {
    p.layers[l] = {.decode_seconds = Median(decode_samples[l]),
                   .prompt_chunk_seconds = Median(chunk_samples[l])};
  }
  std::vector<double> embed;
  std::vector<float> row(dim);
  for (int i = 0; i < 51; ++i) {
    const int32_t token = (i * 37) % hp.n_vocab;
    const auto start = Clock::now();
    RETURN_IF_ERROR(Embed(model, {&token, 1}, absl::MakeSpan(row)));
    embed.push_back(SecondsSince(start));
  }
  p.fixed_decode_seconds = Median(embed);
  // The codecs on a row that went through the layers (a realistic spread of values).
  for (CodecKind codec : o.codecs) {
    ASSIGN_OR_RETURN(CodecCost cost, MeasureCodec(codec, h, dim));
    m.codecs.push_back(cost);
  }
  m.memory = MeasureMemory(model);
  return m;
}

absl::StatusOr<double> MeasureDraftSeconds(const LlamaModel& draft, int32_t threads,
                                           int32_t context_positions, int32_t repetitions) {
  if (threads < 1 || context_positions < 1 || repetitions < 1 ||
      context_positions + repetitions > draft.hparams().context_length) {
    return absl::InvalidArgumentError(
        absl::StrFormat("draft timing: %d threads, %d + %d positions in a context of %d", threads,
                        context_positions, repetitions, draft.hparams().context_length));
  }
  ThreadPool pool(threads);
  ASSIGN_OR_RETURN(auto session,
                   LocalSession::Create(draft, context_positions + repetitions, pool));
  // Any ids of the vocabulary: the cost does not depend on them.
  const int32_t vocab = draft.hparams().n_vocab;
  std::vector<int32_t> context(context_positions);
  for (int32_t i = 0; i < context_positions; ++i) context[i] = (1 + 7 * i) % vocab;
  RETURN_IF_ERROR(session->Feed(context).status());
  std::vector<double> seconds;
  for (int32_t i = 0; i < repetitions; ++i) {
    const int32_t token = (3 + 11 * i) % vocab;
    const auto start = Clock::now();
    RETURN_IF_ERROR(session->Feed({&token, 1}).status());
    seconds.push_back(SecondsSince(start));
  }
  return Median(std::move(seconds));
}

}  // namespace tandem::tune
