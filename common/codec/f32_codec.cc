#include "common/codec/f32_codec.h"

#include <cstring>

#include "common/codec/finite_check.h"
#include "common/codec/wire_blocks.h"  // little-endian host check

namespace tandem {

absl::Status F32Codec::EncodeRows(absl::Span<const float> hidden, int32_t n, int32_t dim,
                                  char* out) const {
  if (!hidden.empty()) std::memcpy(out, hidden.data(), hidden.size() * sizeof(float));
  return absl::OkStatus();
}

absl::Status F32Codec::DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                                  absl::Span<float> out) const {
  if (!out.empty()) std::memcpy(out.data(), payload.data(), payload.size());
  return CheckFinite(out, dim, "f32 payload");
}

}  // namespace tandem
