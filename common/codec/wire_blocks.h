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

// q4: 32 values with one signed scale: value = d * ((nibble) - 8). The value of largest
// magnitude maps to code 0 (-8 * d), so d carries its sign (as in ggml's Q4_0).
// Byte j holds element j in its low nibble and element j + 16 in its high nibble.
struct WireQ4Block {
  uint16_t d;                   // signed scale, IEEE half; finite
  uint8_t qs[kCodecBlock / 2];  // nibbles
};
static_assert(sizeof(WireQ4Block) == 18, "q4 block is 18 bytes on the wire");

// q4: one channel carried outside the 4-bit blocks (a "massive activation").
struct WireQ4Outlier {
  uint16_t channel;  // index in [0, dim); strictly increasing within a row
  uint16_t value;    // the channel's value, IEEE half; finite
};
static_assert(sizeof(WireQ4Outlier) == 4, "q4 outlier is 4 bytes on the wire");

}  // namespace tandem
