#include "common/codec/q4_codec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/codec/q4_tables.h"
#include "common/codec/quant_math.h"
#include "common/util/fp16.h"

namespace tandem {
namespace {

struct Candidate {
  float magnitude;
  uint16_t channel;
};

// Orders candidates best first: larger magnitude, then (ties) the lower channel. As the
// heap's comparison it keeps the worst of the kept candidates at the front.
// (A lambda rather than a function so that the heap algorithms inline it.)
constexpr auto Better = [](const Candidate& a, const Candidate& b) {
  return a.magnitude > b.magnitude || (a.magnitude == b.magnitude && a.channel < b.channel);
};

// Channels of the k largest |x| of a row, in increasing channel order; ties go to the
// lowest channels, so the choice is deterministic everywhere. A k-heap over one pass,
// skipping whole blocks (vectorized max) that cannot beat the current k-th: most blocks
// once the massive channels are in.
void SelectOutliers(absl::Span<const float> row, int32_t k, std::vector<Candidate>& heap,
                    std::vector<uint16_t>& channels) {
  channels.clear();
  if (k == 0) return;
  heap.clear();
  const auto k_size = static_cast<size_t>(k);
  for (size_t base = 0; base < row.size(); base += kCodecBlock) {
    if (heap.size() == k_size && MaxAbs(row.data() + base, kCodecBlock) <= heap.front().magnitude) {
      continue;  // an equal magnitude loses the tie to the earlier channel already kept
    }
    for (size_t c = base; c < base + kCodecBlock; ++c) {
      const Candidate candidate{std::fabs(row[c]), static_cast<uint16_t>(c)};
      if (heap.size() < k_size) {
        heap.push_back(candidate);
        std::push_heap(heap.begin(), heap.end(), Better);
      } else if (candidate.magnitude > heap.front().magnitude) {
        std::pop_heap(heap.begin(), heap.end(), Better);
        heap.back() = candidate;
        std::push_heap(heap.begin(), heap.end(), Better);
      }
    }
  }
  for (const Candidate& candidate : heap) channels.push_back(candidate.channel);
  std::sort(channels.begin(), channels.end());
}

// Midpoints between consecutive level magnitudes: a normalized magnitude v takes level
// magnitude kQ4LevelMagnitude[number of midpoints below v].
constexpr std::array<float, 7> kMidpoint = [] {
  std::array<float, 7> mid{};
  for (int i = 0; i < 7; ++i) mid[i] = (kQ4LevelMagnitude[i] + kQ4LevelMagnitude[i + 1]) / 2;
  return mid;
}();

// Candidate block scales, as fractions of the block's largest magnitude: 2^(-j/24).
constexpr std::array<float, 4> kScaleCandidate = {1.0f, 0.97153f, 0.94387f, 0.91700f};

// The nearest level magnitude to v >= 0 (in units of the sub-block scale); agrees with
// LevelIndex. Selects as bit masks, unrolled: GCC vectorizes the loops over values then
// (it does not if-convert a ?: chain).
inline float NearestMagnitude(float v) {
  uint32_t r = std::bit_cast<uint32_t>(kQ4LevelMagnitude[0]);
  for (int i = 0; i < 7; ++i) {
    const uint32_t above = 0u - static_cast<uint32_t>(v > kMidpoint[i]);
    r = (std::bit_cast<uint32_t>(kQ4LevelMagnitude[i + 1]) & above) | (r & ~above);
  }
  return std::bit_cast<float>(r);
}
inline int LevelIndex(float v) {
  int m = 0;
  for (int i = 0; i < 7; ++i) m += v > kMidpoint[i] ? 1 : 0;
  return m;
}

// Values in a block type: 64 (WireQ4Block) or 32 (WireQ4HalfBlock).
template <typename Block>
constexpr int kBlockValues = static_cast<int>(sizeof(Block::qs)) * 2;

// Quantizes x[kBlockValues<Block>] into `block`; false if a value is beyond +-65504.
template <typename Block>
bool QuantizeBlock(const float* x, Block& block) {
  constexpr int kValues = kBlockValues<Block>;
  constexpr int kSubs = kValues / kQ4SubBlock;
  const float amax = MaxAbs(x, kValues);
  const uint16_t top = half::FromFloat(amax);
  if (half::IsNonFinite(top)) return false;

  float ax[kValues];  // |x|: levels are symmetric, so the search works on magnitudes
  for (int i = 0; i < kValues; ++i) ax[i] = std::fabs(x[i]);
  uint16_t best_d = 0;
  uint8_t best_c[kSubs] = {};
  float best_error = std::numeric_limits<float>::infinity();
  uint16_t previous = 0xffff;
  for (float fraction : kScaleCandidate) {
    const uint16_t dh = half::FromFloat(amax * fraction);
    if (dh == previous || dh == 0) continue;  // a repeat, or nothing representable
    previous = dh;
    const float d = half::ToFloat(dh);
    float sub_error[kSubs] = {};
    uint8_t sub_c[kSubs];
    for (int c = 0; c < 8; ++c) {
      const float scale = d * kQ4SubScale[c];
      const float inv = 1.0f / scale;
      float e2[kValues];  // [kValues] squared errors at this scale
      for (int i = 0; i < kValues; ++i) {
        const float e = ax[i] - scale * NearestMagnitude(ax[i] * inv);
        e2[i] = e * e;
      }
      for (int j = 0; j < kSubs; ++j) {
        const float* e = e2 + j * kQ4SubBlock;
        const float error = (e[0] + e[1]) + (e[2] + e[3]);
        if (c == 0 || error < sub_error[j]) {
          sub_error[j] = error;
          sub_c[j] = static_cast<uint8_t>(c);
        }
      }
    }
    float total = 0;
    for (int j = 0; j < kSubs; ++j) total += sub_error[j];
    if (total < best_error) {
      best_error = total;
      best_d = dh;
      std::copy(sub_c, sub_c + kSubs, best_c);
    }
  }

  // Write the chosen scales and each value's nearest level (all zero: d = 0, codes +0.047).
  block.d = best_d;
  uint64_t bits = 0;
  for (int j = 0; j < kSubs; ++j) bits |= static_cast<uint64_t>(best_c[j]) << (3 * j);
  for (size_t b = 0; b < sizeof(block.scales); ++b) {
    block.scales[b] = static_cast<uint8_t>(bits >> (8 * b));
  }
  const float d = half::ToFloat(best_d);
  uint8_t codes[kValues];
  for (int i = 0; i < kValues; ++i) {
    const float scale = d * kQ4SubScale[best_c[i / kQ4SubBlock]];
    const int m = scale > 0.0f ? LevelIndex(ax[i] * (1.0f / scale)) : 0;
    codes[i] = static_cast<uint8_t>(std::signbit(x[i]) ? 7 - m : 8 + m);
  }
  for (int j = 0; j < kValues / 2; ++j) {
    block.qs[j] = static_cast<uint8_t>(codes[2 * j] | (codes[2 * j + 1] << 4));
  }
  return true;
}

// y[kBlockValues<Block>] = the values of `block`; false if its scale is non-finite or
// negative.
template <typename Block>
bool DequantizeBlock(const Block& block, float* y) {
  constexpr int kValues = kBlockValues<Block>;
  if (half::IsNonFinite(block.d) || (block.d & 0x8000) != 0) return false;
  const float d = half::ToFloat(block.d);
  uint64_t bits = 0;
  for (size_t b = 0; b < sizeof(block.scales); ++b) {
    bits |= static_cast<uint64_t>(block.scales[b]) << (8 * b);
  }
  // d <= 65504 and every factor <= 1: always finite.
  for (int j = 0; j < kValues / kQ4SubBlock; ++j) {
    const float scale = d * kQ4SubScale[(bits >> (3 * j)) & 7];
    for (int i = j * kQ4SubBlock; i < (j + 1) * kQ4SubBlock; ++i) {
      y[i] = scale * kQ4Level[(block.qs[i / 2] >> (4 * (i % 2))) & 0x0f];
    }
  }
  return true;
}

// Encodes the blocks of one row (outliers already zeroed); false at the first block with
// a value beyond +-65504, whose index goes to *bad_block.
bool QuantizeRow(const float* x, int32_t dim, char* out, int32_t* bad_block) {
  const int32_t full = dim / kQ4SuperBlock;
  for (int32_t b = 0; b < full; ++b) {
    WireQ4Block block;
    if (!QuantizeBlock(x + b * kQ4SuperBlock, block)) {
      *bad_block = b;
      return false;
    }
    std::memcpy(out + b * sizeof(WireQ4Block), &block, sizeof(block));
  }
  if (dim % kQ4SuperBlock != 0) {
    WireQ4HalfBlock block;
    if (!QuantizeBlock(x + full * kQ4SuperBlock, block)) {
      *bad_block = full;
      return false;
    }
    std::memcpy(out + full * sizeof(WireQ4Block), &block, sizeof(block));
  }
  return true;
}

// Decodes the blocks of one row; false at the first malformed block (index in *bad_block).
bool DequantizeRow(const char* in, int32_t dim, float* y, int32_t* bad_block) {
  const int32_t full = dim / kQ4SuperBlock;
  for (int32_t b = 0; b < full; ++b) {
    WireQ4Block block;
    std::memcpy(&block, in + b * sizeof(WireQ4Block), sizeof(block));
    if (!DequantizeBlock(block, y + b * kQ4SuperBlock)) {
      *bad_block = b;
      return false;
    }
  }
  if (dim % kQ4SuperBlock != 0) {
    WireQ4HalfBlock block;
    std::memcpy(&block, in + full * sizeof(WireQ4Block), sizeof(block));
    if (!DequantizeBlock(block, y + full * kQ4SuperBlock)) {
      *bad_block = full;
      return false;
    }
  }
  return true;
}

}  // namespace

absl::Status Q4Codec::CheckDim(int32_t dim) const {
  if (dim % kCodecBlock != 0 || dim > 65536) {
    return absl::InvalidArgumentError(absl::StrCat("q4 needs a hidden dim that is a multiple of ",
                                                   kCodecBlock, " and at most 65536, got ", dim));
  }
  return absl::OkStatus();
}

absl::Status Q4Codec::EncodeRows(absl::Span<const float> hidden, int32_t n, int32_t dim,
                                 char* out) const {
  const int32_t k = OutlierCount(dim);
  const size_t blocks_bytes = RowBytes(dim) - k * sizeof(WireQ4Outlier);
  std::vector<float> rest(dim);
  std::vector<Candidate> heap;
  heap.reserve(k);
  std::vector<uint16_t> channels;
  channels.reserve(k);
  for (int32_t r = 0; r < n; ++r) {
    const absl::Span<const float> row = hidden.subspan(static_cast<size_t>(r) * dim, dim);
    std::copy(row.begin(), row.end(), rest.begin());

    // Outliers at f16, zeroed in the rest.
    SelectOutliers(row, k, heap, channels);
    for (uint16_t c : channels) {
      const WireQ4Outlier outlier{.channel = c, .value = half::FromFloat(row[c])};
      if (half::IsNonFinite(outlier.value)) {
        return absl::InvalidArgumentError(absl::StrCat("q4 encode: value ", row[c], " at row ", r,
                                                       ", channel ", c,
                                                       " exceeds the f16 range (+-65504)"));
      }
      std::memcpy(out, &outlier, sizeof(outlier));
      out += sizeof(outlier);
      rest[c] = 0.0f;
    }

    int32_t bad_block = 0;
    if (!QuantizeRow(rest.data(), dim, out, &bad_block)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "q4 encode: row ", r, " block ", bad_block,
          " holds a value beyond the q4 range (+-65504) outside the outlier channels"));
    }
    out += blocks_bytes;
  }
  return absl::OkStatus();
}

absl::Status Q4Codec::DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                                 absl::Span<float> out) const {
  const int32_t k = OutlierCount(dim);
  const size_t blocks_bytes = RowBytes(dim) - k * sizeof(WireQ4Outlier);
  std::vector<WireQ4Outlier> outliers(k);
  const char* in = payload.data();
  for (int32_t r = 0; r < n; ++r) {
    // Outliers: validated before anything is written.
    if (k > 0) std::memcpy(outliers.data(), in, k * sizeof(WireQ4Outlier));
    in += k * sizeof(WireQ4Outlier);
    for (int32_t i = 0; i < k; ++i) {
      const WireQ4Outlier& o = outliers[i];
      if (o.channel >= dim || (i > 0 && o.channel <= outliers[i - 1].channel)) {
        return absl::InvalidArgumentError(
            absl::StrCat("q4 payload: row ", r, " outlier ", i, " has channel ", o.channel,
                         i > 0 ? absl::StrCat(" after ", outliers[i - 1].channel) : "",
                         " (channels must be strictly increasing and below dim ", dim, ")"));
      }
      if (half::IsNonFinite(o.value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "q4 payload: non-finite outlier value at row ", r, ", channel ", o.channel));
      }
    }

    float* y = out.data() + static_cast<size_t>(r) * dim;
    int32_t bad_block = 0;
    if (!DequantizeRow(in, dim, y, &bad_block)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "q4 payload: non-finite or negative scale at row ", r, " block ", bad_block));
    }
    in += blocks_bytes;
    for (const WireQ4Outlier& o : outliers) y[o.channel] = half::ToFloat(o.value);
  }
  return absl::OkStatus();
}

}  // namespace tandem
