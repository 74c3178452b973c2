// `tandem quantize` presets and llama.cpp's per-tensor type mixture (llama-quant.cpp's
// llama_tensor_get_type for the presets offered here), so a q4_k_m file holds the same
// tensor types llama-quantize would give it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor/ggml_type.h"

namespace tandem {

struct QuantPreset {
  std::string name;    // "q4_k_m"
  GgmlType base;       // the type most matrices get
  uint32_t file_type;  // llama_ftype for general.file_type
};

// Parses a preset or plain type name (case-insensitive): q4_k_m, q4_k_s, q5_k_m, q6_k,
// q5_0, q8_0, q4_0, and f32, f16, bf16.
absl::StatusOr<QuantPreset> ParseQuantPreset(std::string_view name);

// The names ParseQuantPreset accepts, for messages.
std::string QuantPresetNames();

// One tensor of the input, as the mixture sees it.
struct MixtureTensor {
  std::string name;
  std::vector<int64_t> shape;  // ne0 (row length) first
  GgmlType type;               // its type in the input
};

// Picks each tensor's output type, in file order (the rules count attn_v and ffn_down
// tensors as they come, as llama.cpp does). `fallbacks` gets one line per tensor whose
// rows do not fit the preferred type's block size.
std::vector<GgmlType> PlanMixture(const QuantPreset& preset,
                                  const std::vector<MixtureTensor>& tensors, int32_t n_layers,
                                  std::vector<std::string>* fallbacks);

}  // namespace tandem
