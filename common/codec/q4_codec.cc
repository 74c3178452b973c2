#include "common/codec/q4_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/codec/half.h"
#include "common/codec/quant_math.h"

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

// Quantizes 32 values; false if the scale does not fit in f16.
bool QuantizeBlock(const float* x, WireQ4Block& block) {
  // m: the first value of largest magnitude (two passes: the max reduction vectorizes).
  const float amax = MaxAbs(x, kCodecBlock);
  float m = 0.0f;
  for (int i = 0; i < kCodecBlock; ++i) {
    if (std::fabs(x[i]) == amax) {
      m = x[i];
      break;
    }
  }
  // m maps to code -8 exactly (up to f16 rounding of d, which is away from zero).
  block.d = amax > 0.0f ? half::FromFloatAwayFromZero(m / -8.0f) : 0;
  if (half::IsNonFinite(block.d)) return false;
  const float d = half::ToFloat(block.d);
  const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
  uint8_t codes[kCodecBlock];
  for (int i = 0; i < kCodecBlock; ++i) {
    const float q = std::clamp(RoundNearestEven(x[i] * inv_d), -8.0f, 7.0f);
    codes[i] = static_cast<uint8_t>(static_cast<int>(q) + 8);
  }
  for (int j = 0; j < kCodecBlock / 2; ++j) {
    block.qs[j] = static_cast<uint8_t>(codes[j] | (codes[j + kCodecBlock / 2] << 4));
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
  const int32_t blocks = dim / kCodecBlock;
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

    for (int32_t b = 0; b < blocks; ++b) {
      WireQ4Block block;
      if (!QuantizeBlock(rest.data() + b * kCodecBlock, block)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "q4 encode: row ", r, " block ", b, " holds a value beyond the q4 range (8 * 65504)"));
      }
      std::memcpy(out, &block, sizeof(block));
      out += sizeof(block);
    }
  }
  return absl::OkStatus();
}

absl::Status Q4Codec::DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                                 absl::Span<float> out) const {
  const int32_t k = OutlierCount(dim);
  const int32_t blocks = dim / kCodecBlock;
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
    for (int32_t b = 0; b < blocks; ++b) {
      WireQ4Block block;
      std::memcpy(&block, in, sizeof(block));
      in += sizeof(block);
      if (half::IsNonFinite(block.d)) {
        return absl::InvalidArgumentError(
            absl::StrCat("q4 payload: non-finite scale at row ", r, " block ", b));
      }
      // |d| <= 65504 and |code - 8| <= 8: always finite.
      const float d = half::ToFloat(block.d);
      float* yb = y + b * kCodecBlock;
      for (int j = 0; j < kCodecBlock / 2; ++j) {
        yb[j] = d * static_cast<float>((block.qs[j] & 0x0f) - 8);
        yb[j + kCodecBlock / 2] = d * static_cast<float>((block.qs[j] >> 4) - 8);
      }
    }
    for (const WireQ4Outlier& o : outliers) y[o.channel] = half::ToFloat(o.value);
  }
  return absl::OkStatus();
}

}  // namespace tandem
