#include "common/model/layer_runner.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "common/kernels/ops.h"
#include "common/tensor/quantize.h"
#include "common/util/status_macros.h"

namespace tandem {

absl::StatusOr<std::unique_ptr<LayerRunner>> LayerRunner::Create(const LlamaModel& model,
                                                                 int32_t begin, int32_t end,
                                                                 int32_t max_context) {
  if (begin < model.layer_begin() || end > model.layer_end() || begin > end) {
    return absl::FailedPreconditionError(
        absl::StrFormat("layers [%d, %d) requested but only [%d, %d) are loaded", begin, end,
                        model.layer_begin(), model.layer_end()));
  }
  const int32_t limit = model.hparams().context_length;
  if (max_context < 1 || max_context > limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "context size %d is outside [1, %d] (the model's context length)", max_context, limit));
  }
  return std::unique_ptr<LayerRunner>(new LayerRunner(model, begin, end, max_context));
}

LayerRunner::LayerRunner(const LlamaModel& model, int32_t begin, int32_t end, int32_t max_context)
    : model_(model),
      begin_(begin),
      end_(end),
      cache_(end - begin, max_context, model.hparams().kv_dim()) {}

void ForwardScratch::Ensure(const LlamaHparams& hp, int64_t rows) {
  const size_t r = static_cast<size_t>(rows);
  if (xb.size() >= r * hp.dim) return;
  x.resize(r * hp.dim);
  xb.resize(r * hp.dim);
  q.resize(r * hp.q_dim());
  att.resize(r * hp.q_dim());
  k.resize(r * hp.kv_dim());
  v.resize(r * hp.kv_dim());
  gate.resize(r * hp.ffn_dim);
  up.resize(r * hp.ffn_dim);
}

void LayerRunner::Truncate(int32_t pos) {
  if (pos < cache_.num_positions()) cache_.set_num_positions(pos < 0 ? 0 : pos);
}

absl::Status LayerRunner::Validate(const SequenceChunk& chunk) const {
  const LlamaHparams& hp = model_.hparams();
  const int32_t n = chunk.n, pos = chunk.pos;
  if (n < 1 || chunk.hidden.size() != static_cast<size_t>(n) * hp.dim) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "hidden state has %d values, expected %d positions x %d", chunk.hidden.size(), n, hp.dim));
  }
  if (pos < 0 || pos > cache_.num_positions()) {
    return absl::InvalidArgumentError(absl::StrFormat("position %d is past the %d cached positions",
                                                      pos, cache_.num_positions()));
  }
  if (static_cast<int64_t>(pos) + n > cache_.max_positions()) {
    return absl::OutOfRangeError(absl::StrFormat("positions [%d, %d) exceed the context size %d",
                                                 pos, pos + n, cache_.max_positions()));
  }
  return absl::OkStatus();
}

absl::Status LayerRunner::Forward(absl::Span<float> hidden, int32_t n, int32_t pos,
                                  ThreadPool& pool) {
  const SequenceChunk chunk{.runner = this, .hidden = hidden, .n = n, .pos = pos};
  return ForwardBatch({&chunk, 1}, scratch_, pool);
}

namespace {

// One layer over `rows` rows of the residual stream x, which hold the chunks `seqs`
// (consecutive, in order). Attention reads and extends each sequence's own KV cache.
struct LayerSeq {
  const SequenceChunk* chunk;
  float* k_cache;  // [max_context, kv_dim] of this layer
  float* v_cache;
};

void RunLayer(const LlamaModel& model, const LayerWeights& w, float* x, int64_t rows,
              absl::Span<const LayerSeq> seqs, ForwardScratch& s, ThreadPool& pool) {
  const LlamaHparams& hp = model.hparams();
  const int64_t dim = hp.dim, q_dim = hp.q_dim(), kv_dim = hp.kv_dim(), ffn = hp.ffn_dim;
  const RopeParams rope{.freq_base = hp.rope_freq_base,
                        .neox = hp.arch.neox_rope,
                        .freq_factors = model.rope_freqs()};

  // Attention block: xb = norm(x); q, k, v = xb Wq (+ bq), xb Wk (+ bk), xb Wv (+ bv).
  RmsNorm(x, w.attn_norm, rows, dim, hp.rms_eps, s.xb.data());  // [rows, dim]
  MatMul(w.wq, s.xb.data(), rows, s.q.data(), pool);            // [rows, q_dim]
  MatMul(w.wk, s.xb.data(), rows, s.k.data(), pool);            // [rows, kv_dim]
  MatMul(w.wv, s.xb.data(), rows, s.v.data(), pool);            // [rows, kv_dim]
  if (w.bq != nullptr) {
    AddBias(s.q.data(), w.bq, rows, q_dim);
    AddBias(s.k.data(), w.bk, rows, kv_dim);
    AddBias(s.v.data(), w.bv, rows, kv_dim);
  }
  // Qwen3: RMSNorm of each q and k head (in place; rows of head_dim).
  if (w.q_norm != nullptr) {
    RmsNorm(s.q.data(), w.q_norm, rows * hp.n_heads, hp.head_dim, hp.rms_eps, s.q.data());
    RmsNorm(s.k.data(), w.k_norm, rows * hp.n_kv_heads, hp.head_dim, hp.rms_eps, s.k.data());
  }

  // Per sequence: rotate q and k by their positions, append k and v to its cache.
  thread_local std::vector<AttentionSeq> att;
  att.clear();
  int64_t row = 0;
  for (const LayerSeq& seq : seqs) {
    const int32_t n = seq.chunk->n, pos = seq.chunk->pos;
    float* q = s.q.data() + row * q_dim;
    float* k = s.k.data() + row * kv_dim;
    Rope(q, n, hp.n_heads, hp.head_dim, pos, rope);
    Rope(k, n, hp.n_kv_heads, hp.head_dim, pos, rope);
    std::memcpy(seq.k_cache + static_cast<size_t>(pos) * kv_dim, k, sizeof(float) * n * kv_dim);
    std::memcpy(seq.v_cache + static_cast<size_t>(pos) * kv_dim, s.v.data() + row * kv_dim,
                sizeof(float) * n * kv_dim);
    att.push_back({.q = q,
                   .k = seq.k_cache,
                   .v = seq.v_cache,
                   .n = n,
                   .pos0 = pos,
                   .out = s.att.data() + row * q_dim});
    row += n;
  }
  // att = softmax(q k^T / sqrt(head_dim)) v over positions [0, pos + i], per head.
  AttentionBatch(att, hp.n_heads, hp.n_kv_heads, hp.head_dim, pool);  // [rows, q_dim]

  // x += att Wo.
  MatMul(w.wo, s.att.data(), rows, s.xb.data(), pool);  // [rows, dim]
  AddInPlace(x, s.xb.data(), rows * dim);

  // Feed-forward block: x += (silu(xb Wgate) * (xb Wup)) Wdown, xb = norm(x).
  RmsNorm(x, w.ffn_norm, rows, dim, hp.rms_eps, s.xb.data());
  MatMul(w.w_gate, s.xb.data(), rows, s.gate.data(), pool);  // [rows, ffn]
  MatMul(w.w_up, s.xb.data(), rows, s.up.data(), pool);      // [rows, ffn]
  SiluMul(s.gate.data(), s.up.data(), rows * ffn);
  MatMul(w.w_down, s.gate.data(), rows, s.xb.data(), pool);  // [rows, dim]
  AddInPlace(x, s.xb.data(), rows * dim);
}

}  // namespace

absl::Status LayerRunner::ForwardBatch(absl::Span<const SequenceChunk> chunks,
                                       ForwardScratch& scratch, ThreadPool& pool) {
  if (chunks.empty()) return absl::OkStatus();
  const LlamaModel& model = chunks[0].runner->model_;
  const LlamaHparams& hp = model.hparams();
  int64_t rows = 0;
  int32_t first_layer = hp.n_layers, last_layer = 0;
  for (const SequenceChunk& c : chunks) {
    if (&c.runner->model_ != &model) {
      return absl::InvalidArgumentError("a batch must run sequences of one model");
    }
    for (const SequenceChunk& other : chunks) {
      if (&other != &c && other.runner == c.runner) {
        return absl::InvalidArgumentError("a batch holds at most one chunk per sequence");
      }
    }
    RETURN_IF_ERROR(c.runner->Validate(c));
    rows += c.n;
    first_layer = std::min(first_layer, c.runner->begin_);
    last_layer = std::max(last_layer, c.runner->end_);
  }
  for (const SequenceChunk& c : chunks) c.runner->Truncate(c.pos);

  // The residual stream of the batch: the chunks' rows in order, ordered by first layer so
  // that at each layer the sequences running it are (for equal ends) a prefix.
  std::vector<const SequenceChunk*> order;
  for (const SequenceChunk& c : chunks) order.push_back(&c);
  std::stable_sort(order.begin(), order.end(), [](const SequenceChunk* a, const SequenceChunk* b) {
    return a->runner->begin_ < b->runner->begin_;
  });
  scratch.Ensure(hp, rows);
  const bool in_place = chunks.size() == 1;
  float* x = in_place ? chunks[0].hidden.data() : scratch.x.data();  // [rows, dim]
  std::vector<int64_t> offset(order.size());
  {
    int64_t row = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      offset[i] = row;
      if (!in_place) {
        std::memcpy(x + row * hp.dim, order[i]->hidden.data(),
                    order[i]->hidden.size() * sizeof(float));
      }
      row += order[i]->n;
    }
  }

  std::vector<LayerSeq> run;
  for (int32_t l = first_layer; l < last_layer; ++l) {
    const LayerWeights& w = model.layer(l);
    // Each maximal run of consecutive chunks that have layer l goes as one batch.
    for (size_t i = 0; i < order.size();) {
      auto has_layer = [&](size_t j) {
        return order[j]->runner->begin_ <= l && l < order[j]->runner->end_;
      };
      if (!has_layer(i)) {
        ++i;
        continue;
      }
      run.clear();
      int64_t run_rows = 0;
      const size_t start = i;
      for (; i < order.size() && has_layer(i); ++i) {
        LayerRunner* r = order[i]->runner;
        const int32_t local = l - r->begin_;
        run.push_back({order[i], r->cache_.keys(local), r->cache_.values(local)});
        run_rows += order[i]->n;
      }
      RunLayer(model, w, x + offset[start] * hp.dim, run_rows, run, scratch, pool);
    }
  }

  for (size_t i = 0; i < order.size(); ++i) {
    const SequenceChunk& c = *order[i];
    c.runner->cache_.set_num_positions(c.pos + c.n);
    if (!in_place)
      std::memcpy(c.hidden.data(), x + offset[i] * hp.dim, c.hidden.size() * sizeof(float));
  }
  return absl::OkStatus();
}

absl::Status Embed(const LlamaModel& model, absl::Span<const int32_t> tokens,
                   absl::Span<float> hidden) {
  if (!model.has_embedding()) {
    return absl::FailedPreconditionError("the token embedding is not loaded");
  }
  const LlamaHparams& hp = model.hparams();
  if (hidden.size() != tokens.size() * hp.dim) {
    return absl::InvalidArgumentError("hidden buffer does not match the number of tokens");
  }
  const WeightView& e = model.token_embedding();
  const size_t row_bytes = RowBytes(e.type, e.cols);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= hp.n_vocab) {
      return absl::InvalidArgumentError(
          absl::StrFormat("token id %d is outside the vocabulary [0, %d)", tokens[i], hp.n_vocab));
    }
    DequantizeRow(e.type, e.data + row_bytes * tokens[i], hidden.data() + i * hp.dim, hp.dim);
  }
  return absl::OkStatus();
}

absl::Status Head(const LlamaModel& model, absl::Span<const float> hidden, absl::Span<float> logits,
                  ThreadPool& pool) {
  if (!model.has_head()) return absl::FailedPreconditionError("the output head is not loaded");
  const LlamaHparams& hp = model.hparams();
  const int64_t n = static_cast<int64_t>(hidden.size()) / hp.dim;
  if (hidden.size() != static_cast<size_t>(n * hp.dim) ||
      logits.size() != static_cast<size_t>(n * hp.n_vocab)) {
    return absl::InvalidArgumentError("hidden and logits buffers do not match");
  }
  std::vector<float> normed(hidden.size());  // [n, dim]
  RmsNorm(hidden.data(), model.output_norm(), n, hp.dim, hp.rms_eps, normed.data());
  MatMul(model.output(), normed.data(), n, logits.data(), pool);  // [n, n_vocab]
  return absl::OkStatus();
}

}  // namespace tandem
