#include "common/tool/synth_shapes.h"

#include <cmath>
#include <map>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/string_view_compat.h"

namespace tandem {
namespace {

const std::map<std::string, SynthShape, std::less<>>& Shapes() {
  // Hyperparameters from each model's config.json on Hugging Face.
  static const auto* shapes = new std::map<std::string, SynthShape, std::less<>>{
      // TinyLlama-1.1B (Llama 2 architecture, GQA).
      {"tinyllama-1.1b", {"llama", 32000, 2048, 5632, 22, 32, 4, 0, 2048, 1e4f, 1e-5f, false}},
      // llama2.c stories110M (Llama 2 architecture, ~110M parameters).
      {"llama-110m", {"llama", 32000, 768, 2048, 12, 12, 12, 0, 1024, 1e4f, 1e-5f, false}},
      // Llama-3.2-1B: 128k vocabulary, rope base 500000 with llama3 scaling, tied head.
      {"llama3.2-1b",
       {"llama", 128256, 2048, 8192, 16, 32, 8, 64, 131072, 5e5f, 1e-5f, true, {32, 1, 4, 8192}}},
      // SmolLM2-135M (llama architecture, tied head).
      {"smollm2-135m", {"llama", 49152, 576, 1536, 30, 9, 3, 64, 8192, 1e5f, 1e-5f, true}},
      // Qwen2.5-0.5B: Q/K/V biases, NEOX rope, 896-wide rows, tied head.
      {"qwen2.5-0.5b", {"qwen2", 151936, 896, 4864, 24, 14, 2, 64, 32768, 1e6f, 1e-6f, true}},
      // Qwen3-0.6B: per-head q/k norms, head dim 128 with dim 1024 and 16 heads, tied head.
      {"qwen3-0.6b", {"qwen3", 151936, 1024, 3072, 28, 16, 8, 128, 40960, 1e6f, 1e-6f, true}},
      // Small models for fast tests, one per architecture feature.
      {"tiny", {"llama", 0, 128, 384, 4, 4, 2, 0, 256, 1e4f, 1e-5f, false}},
      {"tiny-llama3",
       {"llama", 0, 128, 384, 4, 4, 2, 32, 131072, 5e5f, 1e-5f, true, {32, 1, 4, 8192}}},
      {"tiny-qwen2", {"qwen2", 0, 128, 384, 4, 4, 2, 32, 4096, 1e6f, 1e-6f, true}},
      {"tiny-qwen3", {"qwen3", 0, 128, 384, 4, 4, 2, 64, 4096, 1e6f, 1e-6f, true}},
      // K-quants need rows of whole 256-value super-blocks.
      {"tiny-k", {"llama", 0, 256, 768, 2, 4, 2, 0, 256, 1e4f, 1e-5f, false}},
  };
  return *shapes;
}

}  // namespace

std::string SynthShapeNames() {
  std::vector<std::string> names;
  for (const auto& [name, shape] : Shapes()) names.push_back(name);
  return absl::StrJoin(names, " | ");
}

absl::StatusOr<SynthShape> FindSynthShape(std::string_view name) {
  auto it = Shapes().find(name);
  if (it == Shapes().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown shape '", AbslView(name), "' (use ", SynthShapeNames(), ")"));
  }
  return it->second;
}

std::vector<float> Llama3RopeFreqs(const Llama3RopeScaling& s, float rope_base, int32_t head_dim) {
  // convert_hf_to_gguf.py (LlamaModel.generate_extra_tensors): wavelengths shorter than
  // original_context / high_freq_factor keep their frequency, longer than
  // original_context / low_freq_factor are divided by `factor`, in between interpolated.
  const double low_wavelen = s.original_context / s.low_freq_factor;
  const double high_wavelen = s.original_context / s.high_freq_factor;
  std::vector<float> factors;
  for (int32_t i = 0; i < head_dim; i += 2) {
    const double freq =
        1.0 / std::pow(static_cast<double>(rope_base), static_cast<double>(i) / head_dim);
    const double wavelen = 2 * std::numbers::pi / freq;
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(s.factor);
    } else {
      const double smooth = (s.original_context / wavelen - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      factors.push_back(static_cast<float>(1.0 / ((1 - smooth) / s.factor + smooth)));
    }
  }
  return factors;
}

}  // namespace tandem
