#include "common/tensor/ggml_type.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/util/string_view_compat.h"

namespace tandem {

std::optional<GgmlTypeTraits> TraitsOf(uint32_t type_id) {
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::kF32:
      return GgmlTypeTraits{"f32", 1, 4, true};
    case GgmlType::kF16:
      return GgmlTypeTraits{"f16", 1, 2, true};
    case GgmlType::kQ4_0:
      return GgmlTypeTraits{"q4_0", 32, 18, true};
    case GgmlType::kQ4_1:
      return GgmlTypeTraits{"q4_1", 32, 20, true};
    case GgmlType::kQ5_0:
      return GgmlTypeTraits{"q5_0", 32, 22, true};
    case GgmlType::kQ5_1:
      return GgmlTypeTraits{"q5_1", 32, 24, true};
    case GgmlType::kQ8_0:
      return GgmlTypeTraits{"q8_0", 32, 34, true};
    case GgmlType::kQ8_1:
      return GgmlTypeTraits{"q8_1", 32, 36, false};
    case GgmlType::kQ2_K:
      return GgmlTypeTraits{"q2_K", 256, 84, false};
    case GgmlType::kQ3_K:
      return GgmlTypeTraits{"q3_K", 256, 110, false};
    case GgmlType::kQ4_K:
      return GgmlTypeTraits{"q4_K", 256, 144, true};
    case GgmlType::kQ5_K:
      return GgmlTypeTraits{"q5_K", 256, 176, true};
    case GgmlType::kQ6_K:
      return GgmlTypeTraits{"q6_K", 256, 210, true};
    case GgmlType::kQ8_K:
      return GgmlTypeTraits{"q8_K", 256, 292, false};
    case GgmlType::kBF16:
      return GgmlTypeTraits{"bf16", 1, 2, true};
  }
  return std::nullopt;
}

std::optional<GgmlType> ParseSupportedType(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(AbslView(name));
  for (GgmlType t : kSupportedTypes) {
    if (absl::AsciiStrToLower(AbslView(TraitsOf(t).name)) == lower) return t;
  }
  return std::nullopt;
}

std::string SupportedTypeNames() {
  std::string names;
  for (GgmlType t : kSupportedTypes) {
    if (!names.empty()) names += ", ";
    names += TraitsOf(t).name;
  }
  return names;
}

uint32_t LlamaFileType(GgmlType t) {
  switch (t) {
    case GgmlType::kF16:
      return 1;
    case GgmlType::kQ4_0:
      return 2;
    case GgmlType::kQ4_1:
      return 3;
    case GgmlType::kQ8_0:
      return 7;
    case GgmlType::kQ5_0:
      return 8;
    case GgmlType::kQ5_1:
      return 9;
    case GgmlType::kQ4_K:
      return 14;  // Q4_K_S: all matrices Q4_K but for the presets' exceptions
    case GgmlType::kQ5_K:
      return 16;  // Q5_K_S
    case GgmlType::kQ6_K:
      return 18;
    case GgmlType::kBF16:
      return 32;
    default:
      return 0;
  }
}

}  // namespace tandem
