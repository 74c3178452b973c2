#include "common/model/architecture.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "common/util/string_view_compat.h"

namespace tandem {
namespace {

// Rope modes as in llama.cpp's llama_model_rope_type(): LLAMA is NORM, QWEN2/QWEN3 NEOX.
constexpr std::array<ArchitectureTraits, 3> kArchitectures = {{
    {.arch = Architecture::kLlama,
     .name = "llama",
     .neox_rope = false,
     .qkv_bias_required = false,
     .qkv_bias_allowed = true,
     .qk_norm = false,
     .rope_freqs_allowed = true},
    {.arch = Architecture::kQwen2,
     .name = "qwen2",
     .neox_rope = true,
     .qkv_bias_required = true,
     .qkv_bias_allowed = true,
     .qk_norm = false,
     .rope_freqs_allowed = false},
    {.arch = Architecture::kQwen3,
     .name = "qwen3",
     .neox_rope = true,
     .qkv_bias_required = false,
     .qkv_bias_allowed = false,
     .qk_norm = true,
     .rope_freqs_allowed = false},
}};

}  // namespace

std::string SupportedArchitectures() {
  std::string names;
  for (const ArchitectureTraits& a : kArchitectures) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", AbslView(a.name));
  }
  return names;
}

absl::StatusOr<ArchitectureTraits> ArchitectureByName(std::string_view name) {
  for (const ArchitectureTraits& a : kArchitectures) {
    if (a.name == name) return a;
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported architecture '", AbslView(name),
                                                 "' (supported: ", SupportedArchitectures(), ")"));
}

}  // namespace tandem
