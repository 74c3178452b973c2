// Which hidden-state codec a payload uses.
#pragma once

#include <array>
#include <string_view>

#include "absl/status/statusor.h"

namespace tandem {

// Wire formats are described in hidden_codec.h and in proto/tandem/v1/tandem.proto
// (HiddenCodec == static_cast<int>(CodecKind) + 1).
enum class CodecKind { kF32, kF16, kQ8, kQ4 };

inline constexpr std::array<CodecKind, 4> kAllCodecKinds = {CodecKind::kF32, CodecKind::kF16,
                                                            CodecKind::kQ8, CodecKind::kQ4};

// "f32", "f16", "q8", "q4".
std::string_view CodecKindName(CodecKind kind);

// Inverse of CodecKindName (exact, lower case); InvalidArgument listing the valid names.
absl::StatusOr<CodecKind> ParseCodecKind(std::string_view name);

}  // namespace tandem
