// The plain float codecs. f32: lossless, each row dim little-endian floats. f16: each row
// dim IEEE halves, rounded to nearest even; values of magnitude >= 65520 would become Inf
// and are rejected at encode.
#pragma once

#include "common/codec/hidden_codec.h"

namespace tandem {

class FloatCodec final : public HiddenCodec {
 public:
  explicit FloatCodec(CodecKind kind);  // kF32 or kF16

  CodecKind kind() const override { return kind_; }
  size_t RowBytes(int32_t dim) const override { return value_bytes_ * static_cast<size_t>(dim); }

 protected:
  absl::Status EncodeRows(absl::Span<const float> hidden, int32_t n, int32_t dim,
                          char* out) const override;
  absl::Status DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                          absl::Span<float> out) const override;

 private:
  CodecKind kind_;
  size_t value_bytes_;
};

}  // namespace tandem
