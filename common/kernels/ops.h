// The non-matmul kernels of a llama layer. Shapes in comments: [n, dim] is n rows of dim.
#pragma once

#include <cstdint>

#include "absl/types/span.h"
#include "common/util/thread_pool.h"

namespace tandem {

// out[n, dim] = x / rms(x) * weight, per row; rms over dim with eps inside the sqrt.
void RmsNorm(const float* x, const float* weight, int64_t n, int64_t dim, float eps, float* out);

// How a model rotates q and k (llama.cpp's rope types).
struct RopeParams {
  float freq_base = 10000.0f;
  // false: llama.cpp "normal" mode, pairs (2i, 2i+1) (llama GGUFs, whose converter permuted
  // Q/K); true: "neox" mode, pairs (i, i + head_dim/2) (Qwen and other HF-layout models).
  bool neox = false;
  // Llama 3 rope scaling (rope_freqs.weight): pair i's angle is divided by
  // freq_factors[i]; [head_dim / 2], or nullptr for none.
  const float* freq_factors = nullptr;
};

// Rotary embedding of each head of x: [n, n_heads, head_dim], row r at position pos0 + r.
// Pair i rotates by pos * freq_base^(-2i/head_dim) / freq_factors[i], as llama.cpp does.
void Rope(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, const RopeParams& params);

// Rope in "normal" mode without frequency factors.
void RopeNormal(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, float freq_base);

// Causal grouped-query attention for n query positions starting at pos0.
// q: [n, n_heads, head_dim]; k, v: [>= pos0 + n, n_kv_heads, head_dim] with every
// position < pos0 + n filled; out: [n, n_heads, head_dim]. Query r sees positions
// [0, pos0 + r]; head h reads kv head h / (n_heads / n_kv_heads). Scale 1/sqrt(head_dim).
void Attention(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int n_heads,
               int n_kv_heads, int head_dim, float* out, ThreadPool& pool);

// One sequence's part of a batched attention call: n query rows at positions
// [pos0, pos0 + n) of a sequence whose keys and values are k, v (layout as above).
struct AttentionSeq {
  const float* q;  // [n, n_heads, head_dim]
  const float* k;  // [>= pos0 + n, n_kv_heads, head_dim]
  const float* v;
  int64_t n;
  int64_t pos0;
  float* out;  // [n, n_heads, head_dim]
};

// Attention of several sequences in one pool dispatch. Each (row, head) is computed by
// the same code as Attention's, from its own sequence only, so a sequence's result does
// not depend on the others in the batch or on how its rows were chunked.
void AttentionBatch(absl::Span<const AttentionSeq> seqs, int n_heads, int n_kv_heads, int head_dim,
                    ThreadPool& pool);

// gate[i] = silu(gate[i]) * up[i] for i < count (SwiGLU).
void SiluMul(float* gate, const float* up, int64_t count);

// x[r, i] += bias[i] for each of the n rows of x: [n, dim].
void AddBias(float* x, const float* bias, int64_t n, int64_t dim);

// x[i] += y[i].
void AddInPlace(float* x, const float* y, int64_t count);

// In-place softmax of x[0..count).
void Softmax(float* x, int64_t count);

namespace ref {
// Scalar twins of the ops above (same contracts), for tests and as the portable path.
void RmsNorm(const float* x, const float* weight, int64_t n, int64_t dim, float eps, float* out);
void Attention(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int n_heads,
               int n_kv_heads, int head_dim, float* out);
void SiluMul(float* gate, const float* up, int64_t count);
void AddInPlace(float* x, const float* y, int64_t count);
void Softmax(float* x, int64_t count);
}  // namespace ref

}  // namespace tandem
