// Per-row pieces of the ops, per kernel set. Not a public API.
#pragma once

#include <cstdint>

namespace tandem::ops_internal {

// One (query, head) of attention: out[hd] = softmax(scale * q . k_j) . v_j over j < len.
// k and v point at the head's first position; consecutive positions are kv_stride apart.
// scores is scratch space for len floats.
void AttentionRowRef(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t len,
                     int head_dim, float scale, float* scores, float* out);

// Sum of squares of x[0..dim) accumulated in double, as llama.cpp does.
double SumSquaresRef(const float* x, int64_t dim);

namespace avx2 {
void AttentionRow(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t len,
                  int head_dim, float scale, float* scores, float* out);
double SumSquares(const float* x, int64_t dim);
void SiluMul(float* gate, const float* up, int64_t count);
void AddInPlace(float* x, const float* y, int64_t count);
void Softmax(float* x, int64_t count);
}  // namespace avx2

}  // namespace tandem::ops_internal
