// Keys and values of past positions for a range of layers, in F32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem {

class KvCache {
 public:
  KvCache(int32_t n_layers, int32_t max_positions, int32_t kv_dim);

  // [max_positions, kv_dim] for local layer index l (0-based within the range).
  float* keys(int32_t l) { return k_.data() + Offset(l); }
  float* values(int32_t l) { return v_.data() + Offset(l); }

  int32_t num_positions() const { return num_positions_; }
  void set_num_positions(int32_t n) { num_positions_ = n; }
  int32_t max_positions() const { return max_positions_; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

 private:
  size_t Offset(int32_t l) const { return static_cast<size_t>(l) * max_positions_ * kv_dim_; }
  int32_t max_positions_, kv_dim_;
  int32_t num_positions_ = 0;
  std::vector<float> k_, v_;
};

}  // namespace tandem
