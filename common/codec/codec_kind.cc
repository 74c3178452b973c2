#include "common/codec/codec_kind.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace tandem {

std::string_view CodecKindName(CodecKind kind) {
  switch (kind) {
    case CodecKind::kF32:
      return "f32";
    case CodecKind::kF16:
      return "f16";
    case CodecKind::kQ8:
      return "q8";
    case CodecKind::kQ4:
      return "q4";
  }
  return "unknown";
}

absl::StatusOr<CodecKind> ParseCodecKind(std::string_view name) {
  for (CodecKind kind : kAllCodecKinds) {
    if (name == CodecKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown codec \"%s\" (expected f32, f16, q8 or q4)", name));
}

}  // namespace tandem
