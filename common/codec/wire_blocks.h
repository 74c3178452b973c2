// Byte layouts of the quantized hidden-state codecs on the wire. Multi-byte fields are
// little-endian: payloads are memcpy'd to and from these structs, so hosts must be
// little-endian (every edge and cloud target is).
#pragma once

#include <bit>
#include <cstdint>

namespace tandem {

static_assert(std::endian::native == std::endian::little,
              "hidden-state codecs memcpy little-endian wire blocks");

// Values per quantization block of the q8 and q4 codecs.
inline constexpr int kCodecBlock = 32;

// q8: 32 values with one scale: value = d * qs[i], d = amax / 127 (rounded up to f16).
// Same bytes as ggml's block_q8_0.
struct WireQ8Block {
  uint16_t d;              // scale, IEEE half; finite
  int8_t qs[kCodecBlock];  // codes in [-127, 127]
};
static_assert(sizeof(WireQ8Block) == 34, "q8 block is 34 bytes on the wire");

// q4 super-blocks: 64 values (the last block of a row whose dim is an odd multiple of 32
// holds 32) with one f16 scale d, split into sub-blocks of 4 values, each with a 3-bit
// scale code c and four 4-bit level codes q:
//   value = (d * kQ4SubScale[c]) * kQ4Level[q]   (two float multiplications, in that order)
// Tables in common/codec/q4_tables.h. 5.0 bits per value.
inline constexpr int kQ4SuperBlock = 64;
inline constexpr int kQ4SubBlock = 4;

struct WireQ4Block {
  // Scale, IEEE half; finite, sign bit clear.
  uint16_t d;
  // 16 3-bit sub-block scale codes: code j at bits 3j..3j+2 (little-endian bit order).
  uint8_t scales[kQ4SuperBlock / kQ4SubBlock * 3 / 8];
  // 4-bit level codes: byte j holds value 2j (low nibble) and value 2j+1 (high nibble).
  uint8_t qs[kQ4SuperBlock / 2];
};
static_assert(sizeof(WireQ4Block) == 40, "q4 block is 40 bytes on the wire");

// The same for the 32-value block that ends a row when dim % 64 == 32 (packed: 21 bytes).
struct __attribute__((packed)) WireQ4HalfBlock {
  uint16_t d;  // as above, over 32 values: 8 scale codes, 16 bytes of level codes
  uint8_t scales[kQ4SuperBlock / 2 / kQ4SubBlock * 3 / 8];
  uint8_t qs[kQ4SuperBlock / 4];
};
static_assert(sizeof(WireQ4HalfBlock) == 21, "q4 half block is 21 bytes on the wire");

// q4: one channel carried outside the 4-bit blocks (a "massive activation").
struct WireQ4Outlier {
  uint16_t channel;  // index in [0, dim); strictly increasing within a row
  uint16_t value;    // the channel's value, IEEE half; finite
};
static_assert(sizeof(WireQ4Outlier) == 4, "q4 outlier is 4 bytes on the wire");

}  // namespace tandem
