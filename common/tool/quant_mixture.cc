#include "common/tool/quant_mixture.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/string_view_compat.h"

namespace tandem {
namespace {

// llama_ftype values (llama.h).
constexpr uint32_t kFtypeF32 = 0, kFtypeF16 = 1, kFtypeQ4_0 = 2, kFtypeQ4_1 = 3, kFtypeQ8_0 = 7,
                   kFtypeQ5_0 = 8, kFtypeQ5_1 = 9, kFtypeQ4_K_S = 14, kFtypeQ4_K_M = 15,
                   kFtypeQ5_K_M = 17, kFtypeQ6_K = 18, kFtypeBF16 = 32;

const std::vector<QuantPreset>& Presets() {
  static const auto* presets = new std::vector<QuantPreset>{
      {"q4_k_m", GgmlType::kQ4_K, kFtypeQ4_K_M}, {"q4_k_s", GgmlType::kQ4_K, kFtypeQ4_K_S},
      {"q5_k_m", GgmlType::kQ5_K, kFtypeQ5_K_M}, {"q6_k", GgmlType::kQ6_K, kFtypeQ6_K},
      {"q8_0", GgmlType::kQ8_0, kFtypeQ8_0},     {"q5_0", GgmlType::kQ5_0, kFtypeQ5_0},
      {"q5_1", GgmlType::kQ5_1, kFtypeQ5_1},     {"q4_1", GgmlType::kQ4_1, kFtypeQ4_1},
      {"q4_0", GgmlType::kQ4_0, kFtypeQ4_0},     {"bf16", GgmlType::kBF16, kFtypeBF16},
      {"f16", GgmlType::kF16, kFtypeF16},        {"f32", GgmlType::kF32, kFtypeF32},
  };
  return *presets;
}

enum class Category { kOutput, kTokenEmbd, kAttnQkv, kAttnV, kFfnDown, kOther };

// llama.cpp's tensor_get_category, for the tensors of the architectures Tandem runs.
Category CategoryOf(const std::string& name) {
  if (name == "output.weight") return Category::kOutput;
  if (name == "token_embd.weight") return Category::kTokenEmbd;
  if (absl::StrContains(name, "attn_qkv.weight")) return Category::kAttnQkv;
  if (absl::StrContains(name, "attn_v.weight")) return Category::kAttnV;
  if (absl::StrContains(name, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

// Matrices named *weight except norms are quantized (llama.cpp's
// tensor_allows_quantization, less the other architectures' special tensors).
bool Quantizable(const MixtureTensor& t) {
  return t.shape.size() >= 2 && absl::EndsWith(t.name, "weight") &&
         !absl::StrContains(t.name, "_norm.weight");
}

bool IsQuantized(GgmlType t) {
  return t != GgmlType::kF32 && t != GgmlType::kF16 && t != GgmlType::kBF16;
}

// The layers whose attn_v / ffn_down the _m presets keep at more bits: the first and last
// eighth, and every third layer in between.
bool UseMoreBits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

}  // namespace

absl::StatusOr<QuantPreset> ParseQuantPreset(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(AbslView(name));
  for (const QuantPreset& p : Presets()) {
    if (p.name == lower) return p;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown type '", AbslView(name), "' (use ", QuantPresetNames(), ")"));
}

std::string QuantPresetNames() {
  std::string names;
  for (const QuantPreset& p : Presets()) absl::StrAppend(&names, names.empty() ? "" : ", ", p.name);
  return names;
}

std::vector<GgmlType> PlanMixture(const QuantPreset& preset,
                                  const std::vector<MixtureTensor>& tensors, int32_t n_layers,
                                  std::vector<std::string>* fallbacks) {
  const uint32_t ftype = preset.file_type;
  bool tied = true;  // no output.weight: the head reuses token_embd
  int n_attention_wv = 0;
  for (const MixtureTensor& t : tensors) {
    const Category c = CategoryOf(t.name);
    if (c == Category::kOutput) tied = false;
    if (c == Category::kAttnV || c == Category::kAttnQkv) ++n_attention_wv;
  }
  int i_attention_wv = 0, i_ffn_down = 0;
  std::vector<GgmlType> out;
  for (const MixtureTensor& t : tensors) {
    if (!Quantizable(t)) {
      out.push_back(t.type);
      continue;
    }
    GgmlType type = preset.base;
    if (!IsQuantized(type)) {
      out.push_back(type);
      continue;
    }
    const int64_t ncols = t.shape[0];
    const Category c = CategoryOf(t.name);
    if (c == Category::kOutput || (tied && c == Category::kTokenEmbd)) {
      // The head is the most sensitive matrix: Q6_K unless the preset is already 8-bit.
      if (ncols % TraitsOf(type).block_size != 0) {
        type = GgmlType::kQ8_0;
      } else if (type != GgmlType::kQ8_0) {
        type = GgmlType::kQ6_K;
      }
    } else if (c == Category::kAttnV || c == Category::kAttnQkv) {
      if ((ftype == kFtypeQ4_K_M || ftype == kFtypeQ5_K_M) &&
          UseMoreBits(i_attention_wv, n_attention_wv)) {
        type = GgmlType::kQ6_K;
      } else if (ftype == kFtypeQ4_K_S && i_attention_wv < 4) {
        type = GgmlType::kQ5_K;
      }
      ++i_attention_wv;
    } else if (c == Category::kFfnDown) {
      const int i = i_ffn_down, n = n_layers;
      if (ftype == kFtypeQ4_K_M && UseMoreBits(i, n)) {
        type = GgmlType::kQ6_K;
      } else if (ftype == kFtypeQ5_K_M && UseMoreBits(i, n)) {
        type = GgmlType::kQ6_K;
      } else if (ftype == kFtypeQ4_K_S && i < n / 8) {
        type = GgmlType::kQ5_K;
      }
      ++i_ffn_down;
    }
    // Rows that are not whole 256-value super-blocks (e.g. Qwen2.5-0.5B's 896) take
    // llama.cpp's 32-value fallback; rows that fit no block at all stay F16.
    if (ncols % TraitsOf(type).block_size != 0) {
      GgmlType fallback = type;
      switch (type) {
        case GgmlType::kQ4_K:
          fallback = GgmlType::kQ5_0;
          break;
        case GgmlType::kQ5_K:
          fallback = GgmlType::kQ5_1;
          break;
        case GgmlType::kQ6_K:
          fallback = GgmlType::kQ8_0;
          break;
        default:
          break;
      }
      if (ncols % TraitsOf(fallback).block_size != 0) fallback = GgmlType::kF16;
      if (fallbacks != nullptr) {
        fallbacks->push_back(absl::StrFormat(
            "%s: rows of %d values are not a multiple of %d (%s); using %s", t.name, ncols,
            TraitsOf(type).block_size, TraitsOf(type).name, TraitsOf(fallback).name));
      }
      type = fallback;
    }
    out.push_back(type);
  }
  return out;
}

}  // namespace tandem
