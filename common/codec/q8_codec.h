// q8: each row is dim/32 WireQ8Blocks (8.5 bits/value), as ggml's Q8_0 with the scale
// rounded up to f16 so that no code clips: |x - d*q| <= d/2 for every value, with
// d = amax/127 of the block. dim must be a multiple of 32 (no padding: every llama-family
// hidden size is).
#pragma once

#include "common/codec/hidden_codec.h"
#include "common/codec/wire_blocks.h"

namespace tandem {

class Q8Codec final : public HiddenCodec {
 public:
  CodecKind kind() const override { return CodecKind::kQ8; }
  size_t RowBytes(int32_t dim) const override {
    return static_cast<size_t>(dim / kCodecBlock) * sizeof(WireQ8Block);
  }

 protected:
  absl::Status CheckDim(int32_t dim) const override;
  absl::Status EncodeRows(absl::Span<const float> hidden, int32_t n, int32_t dim,
                          char* out) const override;
  absl::Status DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                          absl::Span<float> out) const override;
};

}  // namespace tandem
