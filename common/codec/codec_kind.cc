#include "common/codec/codec_kind.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/util/enum_names.h"

namespace tandem {

std::string_view CodecKindName(CodecKind kind) {
  static constexpr std::string_view kNames[] = {"f32", "f16", "q8", "q4"};
  return EnumName(kind, kNames);
}

absl::StatusOr<CodecKind> ParseCodecKind(std::string_view name) {
  for (CodecKind kind : kAllCodecKinds) {
    if (name == CodecKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown codec \"%s\" (expected f32, f16, q8 or q4)", name));
}

}  // namespace tandem
