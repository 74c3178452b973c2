#include "common/model/layer_runner.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "common/kernels/ops.h"
#include "common/tensor/quantize.h"

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

void LayerRunner::EnsureScratch(int32_t n) {
  const LlamaHparams& hp = model_.hparams();
  const size_t rows = static_cast<size_t>(n);
  if (xb_.size() >= rows * hp.dim) return;
  xb_.resize(rows * hp.dim);
  q_.resize(rows * hp.q_dim());
  att_.resize(rows * hp.q_dim());
  k_.resize(rows * hp.kv_dim());
  v_.resize(rows * hp.kv_dim());
  gate_.resize(rows * hp.ffn_dim);
  up_.resize(rows * hp.ffn_dim);
}

void LayerRunner::Truncate(int32_t pos) {
  if (pos < cache_.num_positions()) cache_.set_num_positions(pos < 0 ? 0 : pos);
}

absl::Status LayerRunner::Forward(absl::Span<float> hidden, int32_t n, int32_t pos,
                                  ThreadPool& pool) {
  const LlamaHparams& hp = model_.hparams();
  if (n < 1 || hidden.size() != static_cast<size_t>(n) * hp.dim) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "hidden state has %d values, expected %d positions x %d", hidden.size(), n, hp.dim));
  }
  if (pos < 0 || pos > cache_.num_positions()) {
    return absl::InvalidArgumentError(absl::StrFormat("position %d is past the %d cached positions",
                                                      pos, cache_.num_positions()));
  }
  if (static_cast<int64_t>(pos) + n > cache_.max_positions()) {
    return absl::OutOfRangeError(absl::StrFormat("positions [%d, %d) exceed the context size %d",
                                                 pos, pos + n, cache_.max_positions()));
  }
  Truncate(pos);
  EnsureScratch(n);
  const int64_t dim = hp.dim, q_dim = hp.q_dim(), kv_dim = hp.kv_dim(), ffn = hp.ffn_dim;
  const RopeParams rope{.freq_base = hp.rope_freq_base,
                        .neox = hp.arch.neox_rope,
                        .freq_factors = model_.rope_freqs()};
  float* x = hidden.data();  // [n, dim], the residual stream

  for (int32_t l = begin_; l < end_; ++l) {
    const LayerWeights& w = model_.layer(l);
    const int32_t local = l - begin_;

    // Attention block: xb = norm(x); q, k, v = xb Wq (+ bq), xb Wk (+ bk), xb Wv (+ bv).
    RmsNorm(x, w.attn_norm, n, dim, hp.rms_eps, xb_.data());  // [n, dim]
    MatMul(w.wq, xb_.data(), n, q_.data(), pool);             // [n, q_dim]
    MatMul(w.wk, xb_.data(), n, k_.data(), pool);             // [n, kv_dim]
    MatMul(w.wv, xb_.data(), n, v_.data(), pool);             // [n, kv_dim]
    if (w.bq != nullptr) {
      AddBias(q_.data(), w.bq, n, q_dim);
      AddBias(k_.data(), w.bk, n, kv_dim);
      AddBias(v_.data(), w.bv, n, kv_dim);
    }
    // Qwen3: RMSNorm of each q and k head (in place; rows of head_dim).
    if (w.q_norm != nullptr) {
      RmsNorm(q_.data(), w.q_norm, n * hp.n_heads, hp.head_dim, hp.rms_eps, q_.data());
      RmsNorm(k_.data(), w.k_norm, n * hp.n_kv_heads, hp.head_dim, hp.rms_eps, k_.data());
    }

    // Rotate q and k by their positions, then append k and v to the cache.
    Rope(q_.data(), n, hp.n_heads, hp.head_dim, pos, rope);
    Rope(k_.data(), n, hp.n_kv_heads, hp.head_dim, pos, rope);
    float* k_cache = cache_.keys(local);    // [max_context, kv_dim]
    float* v_cache = cache_.values(local);  // [max_context, kv_dim]
    std::memcpy(k_cache + static_cast<size_t>(pos) * kv_dim, k_.data(), sizeof(float) * n * kv_dim);
    std::memcpy(v_cache + static_cast<size_t>(pos) * kv_dim, v_.data(), sizeof(float) * n * kv_dim);

    // att = softmax(q k^T / sqrt(head_dim)) v over positions [0, pos + i], per head.
    Attention(q_.data(), k_cache, v_cache, n, pos, hp.n_heads, hp.n_kv_heads, hp.head_dim,
              att_.data(), pool);  // [n, q_dim]

    // x += att Wo.
    MatMul(w.wo, att_.data(), n, xb_.data(), pool);  // [n, dim]
    AddInPlace(x, xb_.data(), n * dim);

    // Feed-forward block: x += (silu(xb Wgate) * (xb Wup)) Wdown, xb = norm(x).
    RmsNorm(x, w.ffn_norm, n, dim, hp.rms_eps, xb_.data());
    MatMul(w.w_gate, xb_.data(), n, gate_.data(), pool);  // [n, ffn]
    MatMul(w.w_up, xb_.data(), n, up_.data(), pool);      // [n, ffn]
    SiluMul(gate_.data(), up_.data(), n * ffn);
    MatMul(w.w_down, gate_.data(), n, xb_.data(), pool);  // [n, dim]
    AddInPlace(x, xb_.data(), n * dim);
  }
  cache_.set_num_positions(pos + n);
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
