#include "common/codec/float_codec.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/codec/finite_check.h"
#include "common/codec/wire_blocks.h"  // little-endian host check
#include "common/util/fp16.h"

namespace tandem {
namespace {

// Values converted per step through a stack buffer (keeps the loops free of control
// flow, so they vectorize, without a heap scratch buffer).
constexpr size_t kChunk = 256;

// Returns true if some output is Inf or NaN.
bool ToHalves(const float* in, uint16_t* out, size_t count) {
  uint32_t non_finite = 0;
  for (size_t i = 0; i < count; ++i) {
    out[i] = half::FromFloat(in[i]);
    non_finite |= (out[i] & 0x7c00u) == 0x7c00u;
  }
  return non_finite != 0;
}

// Returns true if some input is Inf or NaN.
bool FromHalves(const uint16_t* in, float* out, size_t count) {
  uint32_t non_finite = 0;
  for (size_t i = 0; i < count; ++i) {
    out[i] = half::ToFloat(in[i]);
    non_finite |= (in[i] & 0x7c00u) == 0x7c00u;
  }
  return non_finite != 0;
}

// Index of the first non-finite half (one exists).
size_t FirstNonFinite(const uint16_t* h, size_t count) {
  return std::find_if(h, h + count, half::IsNonFinite) - h;
}

absl::Status EncodeF16(absl::Span<const float> hidden, int32_t dim, char* out) {
  uint16_t buf[kChunk];
  for (size_t start = 0; start < hidden.size(); start += kChunk) {
    const size_t count = std::min(kChunk, hidden.size() - start);
    if (ToHalves(hidden.data() + start, buf, count)) {
      // Inputs are finite, so Inf means overflow.
      const size_t at = start + FirstNonFinite(buf, count);
      return absl::InvalidArgumentError(absl::StrCat(
          "f16 encode: value ", hidden[at], " at row ", at / static_cast<size_t>(dim), ", channel ",
          at % static_cast<size_t>(dim), " exceeds the f16 range (+-65504)"));
    }
    std::memcpy(out + 2 * start, buf, 2 * count);
  }
  return absl::OkStatus();
}

absl::Status DecodeF16(std::string_view payload, int32_t dim, absl::Span<float> out) {
  uint16_t buf[kChunk];
  for (size_t start = 0; start < out.size(); start += kChunk) {
    const size_t count = std::min(kChunk, out.size() - start);
    std::memcpy(buf, payload.data() + 2 * start, 2 * count);
    if (FromHalves(buf, out.data() + start, count)) {
      const size_t at = start + FirstNonFinite(buf, count);
      return absl::InvalidArgumentError(absl::StrCat("f16 payload: non-finite value ", out[at],
                                                     " at row ", at / static_cast<size_t>(dim),
                                                     ", channel ", at % static_cast<size_t>(dim)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

FloatCodec::FloatCodec(CodecKind kind)
    : kind_(kind), value_bytes_(kind == CodecKind::kF16 ? sizeof(uint16_t) : sizeof(float)) {}

absl::Status FloatCodec::EncodeRows(absl::Span<const float> hidden, int32_t n, int32_t dim,
                                    char* out) const {
  if (kind_ == CodecKind::kF16) return EncodeF16(hidden, dim, out);
  if (!hidden.empty()) std::memcpy(out, hidden.data(), hidden.size() * sizeof(float));
  return absl::OkStatus();
}

absl::Status FloatCodec::DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                                    absl::Span<float> out) const {
  if (kind_ == CodecKind::kF16) return DecodeF16(payload, dim, out);
  if (!out.empty()) std::memcpy(out.data(), payload.data(), payload.size());
  return CheckFinite(out, dim, "f32 payload");
}

}  // namespace tandem
