// f32: lossless; each row is dim little-endian floats.
#pragma once

#include "common/codec/hidden_codec.h"

namespace tandem {

class F32Codec final : public HiddenCodec {
 public:
  CodecKind kind() const override { return CodecKind::kF32; }
  size_t RowBytes(int32_t dim) const override { return 4 * static_cast<size_t>(dim); }

 protected:
  absl::Status EncodeRows(absl::Span<const float> hidden, int32_t n, int32_t dim,
                          char* out) const override;
  absl::Status DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                          absl::Span<float> out) const override;
};

}  // namespace tandem
