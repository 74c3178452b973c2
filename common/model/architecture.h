// The model architectures Tandem runs, and what differs between them. All are pre-norm
// decoder-only transformers with SwiGLU feed-forward blocks and RMSNorm (the llama family);
// they differ in GGUF key prefix, RoPE pairing, attention biases and per-head q/k norms.
// Anything else is refused with one error naming the architecture (as llama.cpp's
// llama-arch / llama-model define them).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tandem {

enum class Architecture {
  kLlama,  // Llama 1/2/3, TinyLlama, SmolLM, Mistral-style: normal RoPE, optional biases,
           // optional rope_freqs.weight (Llama 3.1+ rope scaling)
  kQwen2,  // Qwen2 / Qwen2.5: NEOX RoPE, required Q/K/V biases
  kQwen3,  // Qwen3 dense: NEOX RoPE, RMSNorm per head on Q and K, head dim from key_length
};

struct ArchitectureTraits {
  Architecture arch;
  std::string_view name;    // general.architecture, and the prefix of its hparam keys
  bool neox_rope;           // rotate halves (i, i + d/2) rather than adjacent pairs
  bool qkv_bias_required;   // attn_{q,k,v}.bias must be present
  bool qkv_bias_allowed;    // attn_{q,k,v}.bias may be present (loaded if so)
  bool qk_norm;             // attn_{q,k}_norm.weight, [head_dim], RMSNorm per head
  bool rope_freqs_allowed;  // rope_freqs.weight (llama3 rope scaling) may be present
};

// The traits of the architecture named `name` (general.architecture); InvalidArgument
// naming it and the supported ones otherwise.
absl::StatusOr<ArchitectureTraits> ArchitectureByName(std::string_view name);

// "llama, qwen2, qwen3".
std::string SupportedArchitectures();

}  // namespace tandem
