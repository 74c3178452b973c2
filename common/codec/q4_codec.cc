#include "common/codec/q4_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/codec/half.h"

namespace tandem {
namespace {

// Channels of the k largest |x| of a row, in increasing channel order. Ties at the
// k-th magnitude go to the lowest channels, so the choice is deterministic everywhere.
void SelectOutliers(absl::Span<const float> row, int32_t k, std::vector<float>& magnitudes,
                    std::vector<uint16_t>& channels) {
  channels.clear();
  if (k == 0) return;
  magnitudes.resize(row.size());
  for (size_t c = 0; c < row.size(); ++c) magnitudes[c] = std::fabs(row[c]);
  // k-th largest magnitude, in O(dim).
  std::nth_element(magnitudes.begin(), magnitudes.begin() + (k - 1), magnitudes.end(),
                   std::greater<float>());
  const float threshold = magnitudes[k - 1];
  int32_t above = 0;
  for (float x : row) above += std::fabs(x) > threshold;
  int32_t ties = k - above;  // channels equal to the threshold that still fit
  for (size_t c = 0; c < row.size(); ++c) {
    const float m = std::fabs(row[c]);
    if (m > threshold || (m == threshold && ties-- > 0)) {
      channels.push_back(static_cast<uint16_t>(c));
    }
  }
}

// Quantizes 32 values; false if the scale does not fit in f16.
bool QuantizeBlock(const float* x, WireQ4Block& block) {
  float amax = 0.0f, m = 0.0f;
  for (int i = 0; i < kCodecBlock; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      m = x[i];
    }
  }
  // m maps to code -8 exactly (up to f16 rounding of d, which is away from zero).
  block.d = amax > 0.0f ? half::FromFloatAwayFromZero(m / -8.0f) : 0;
  if (half::IsNonFinite(block.d)) return false;
  const float d = half::ToFloat(block.d);
  const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
  uint8_t codes[kCodecBlock];
  for (int i = 0; i < kCodecBlock; ++i) {
    const float q = std::clamp(std::nearbyint(x[i] * inv_d), -8.0f, 7.0f);
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
  std::vector<float> rest(dim), magnitudes;
  std::vector<uint16_t> channels;
  channels.reserve(k);
  for (int32_t r = 0; r < n; ++r) {
    const absl::Span<const float> row = hidden.subspan(static_cast<size_t>(r) * dim, dim);
    std::copy(row.begin(), row.end(), rest.begin());

    // Outliers at f16, zeroed in the rest.
    SelectOutliers(row, k, magnitudes, channels);
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
