// The q4 codec's fixed tables (part of the wire format; see wire_blocks.h). Each entry is
// the float32 nearest to the decimal written here.
#pragma once

#include <array>

namespace tandem {

// Level magnitudes, largest = 1. Made by Lloyd's algorithm under this codec's own encoder
// (block and sub-block scale search included), starting from the Lloyd-Max levels of a
// Gaussian (Max, 1960, divided by the largest: 0.0470 ... 0.7572, 1), on Gaussian rows
// whose channels have log-normal scales; q4_codec_test checks the table is a fixed point.
// On the real model they beat a uniform 4-bit grid at equal size (split_fidelity).
inline constexpr std::array<float, 8> kQ4LevelMagnitude = {0.0397f, 0.1249f, 0.2204f, 0.3270f,
                                                           0.4439f, 0.5913f, 0.7336f, 1.0f};

// Level of code q (0..15): codes 0..7 are the negative levels, largest magnitude first;
// codes 8..15 the positive ones, smallest first. No code stands for zero.
inline constexpr std::array<float, 16> kQ4Level = [] {
  std::array<float, 16> levels{};
  for (int i = 0; i < 8; ++i) {
    levels[7 - i] = -kQ4LevelMagnitude[i];
    levels[8 + i] = kQ4LevelMagnitude[i];
  }
  return levels;
}();

// Sub-block scale factors 2^(-c/6), c = 0..7: a sub-block's scale is d * kQ4SubScale[c].
inline constexpr std::array<float, 8> kQ4SubScale = {1.0f,    0.8909f, 0.7937f, 0.7071f,
                                                     0.6300f, 0.5612f, 0.5f,    0.4454f};

}  // namespace tandem
