#include "common/codec/hidden_codec.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/codec/finite_check.h"
#include "common/codec/float_codec.h"
#include "common/codec/q4_codec.h"
#include "common/codec/q8_codec.h"
#include "common/util/status_macros.h"

namespace tandem {
namespace {

absl::Status CheckShape(int32_t n, int32_t dim, size_t values, std::string_view what) {
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat("negative row count ", n));
  if (values != static_cast<size_t>(n) * static_cast<size_t>(dim)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s holds %d values, expected n * dim = %d * %d", what, values, n, dim));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status HiddenCodec::ValidateDim(int32_t dim) const {
  if (dim <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "hidden dim must be positive, got %d (codec %s)", dim, CodecKindName(kind())));
  }
  return CheckDim(dim);
}

absl::Status HiddenCodec::Encode(absl::Span<const float> hidden, int32_t n, int32_t dim,
                                 std::string* out) const {
  RETURN_IF_ERROR(ValidateDim(dim));
  RETURN_IF_ERROR(CheckShape(n, dim, hidden.size(), "hidden"));
  RETURN_IF_ERROR(CheckFinite(hidden, dim, "encode input"));
  out->resize(EncodedSize(n, dim));
  return EncodeRows(hidden, n, dim, out->data());
}

absl::Status HiddenCodec::Decode(std::string_view payload, int32_t n, int32_t dim,
                                 absl::Span<float> out) const {
  RETURN_IF_ERROR(ValidateDim(dim));
  RETURN_IF_ERROR(CheckShape(n, dim, out.size(), "output"));
  if (const size_t expected = EncodedSize(n, dim); payload.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s payload is %d bytes, expected %d for %d rows of dim %d",
                        CodecKindName(kind()), payload.size(), expected, n, dim));
  }
  return DecodeRows(payload, n, dim, out);
}

const HiddenCodec& GetHiddenCodec(CodecKind kind) {
  // Stateless and constant: safe to share between threads.
  static const FloatCodec f32(CodecKind::kF32);
  static const FloatCodec f16(CodecKind::kF16);
  static const Q8Codec q8;
  static const Q4Codec q4;
  switch (kind) {
    case CodecKind::kF32:
      return f32;
    case CodecKind::kF16:
      return f16;
    case CodecKind::kQ8:
      return q8;
    case CodecKind::kQ4:
      return q4;
  }
  return f32;  // unreachable for valid enum values
}

absl::Status ValidateCodecDim(CodecKind kind, int32_t dim) {
  return GetHiddenCodec(kind).ValidateDim(dim);
}

size_t EncodedSize(CodecKind kind, int32_t n, int32_t dim) {
  return GetHiddenCodec(kind).EncodedSize(n, dim);
}

absl::Status EncodeHidden(CodecKind kind, absl::Span<const float> hidden, int32_t n, int32_t dim,
                          std::string* out) {
  return GetHiddenCodec(kind).Encode(hidden, n, dim, out);
}

absl::Status DecodeHidden(CodecKind kind, std::string_view payload, int32_t n, int32_t dim,
                          absl::Span<float> out) {
  return GetHiddenCodec(kind).Decode(payload, n, dim, out);
}

}  // namespace tandem
