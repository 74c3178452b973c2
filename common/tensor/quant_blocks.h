// Quantized block layouts, byte-for-byte as ggml defines them (ggml-common.h), so GGUF
// files written by llama.cpp load unchanged.
#pragma once

#include <cstdint>

namespace tandem {

inline constexpr int kQK8_0 = 32;
inline constexpr int kQK4_0 = 32;

// 32 weights as int8 with one scale: value = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;         // scale, IEEE half precision
  int8_t qs[kQK8_0];  // quants
};
static_assert(sizeof(BlockQ8_0) == 34, "BlockQ8_0 must match ggml's block_q8_0");

// 32 weights as 4-bit unsigned nibbles with one scale: value = d * (q - 8).
// Byte j holds element j in its low nibble and element j + 16 in its high nibble.
struct BlockQ4_0 {
  uint16_t d;              // scale, IEEE half precision
  uint8_t qs[kQK4_0 / 2];  // nibbles
};
static_assert(sizeof(BlockQ4_0) == 18, "BlockQ4_0 must match ggml's block_q4_0");

}  // namespace tandem
