// The model shapes `tandem synth` can make: real models' hyperparameters (so speed and
// memory work at real sizes without the real weights) and tiny ones for tests, each with
// its architecture's quirks (see common/model/architecture.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem {

// Llama 3.1+ rope scaling ("rope_type": "llama3" in the HF config), turned into the
// per-pair divisors of rope_freqs.weight as llama.cpp's convert_hf_to_gguf.py does.
struct Llama3RopeScaling {
  float factor = 0;  // 0: none
  float low_freq_factor = 1;
  float high_freq_factor = 4;
  int32_t original_context = 8192;
};

struct SynthShape {
  std::string arch;  // general.architecture
  int32_t vocab;     // 0: the vocabulary's size
  int32_t dim, ffn, layers, heads, kv_heads;
  int32_t head_dim;  // 0: dim / heads; else written as <arch>.attention.key_length
  int32_t context;
  float rope_base;
  float rms_eps;
  bool tied_head;  // no output.weight: the head is token_embd
  Llama3RopeScaling rope_scaling;
};

// The preset called `name`; InvalidArgument listing the presets otherwise.
absl::StatusOr<SynthShape> FindSynthShape(std::string_view name);

// "tinyllama-1.1b | llama-110m | ...".
std::string SynthShapeNames();

// rope_freqs.weight for `scaling`: [head_dim / 2] divisors of the pairs' frequencies.
std::vector<float> Llama3RopeFreqs(const Llama3RopeScaling& scaling, float rope_base,
                                   int32_t head_dim);

}  // namespace tandem
