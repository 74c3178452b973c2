// Tensor element types with ggml's numbering (as stored in GGUF files) and their block
// geometry. Only the types Tandem computes with are "supported"; others are named so
// that error messages can say what a file holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tandem {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};

struct GgmlTypeTraits {
  std::string_view name;  // "f32", "q4_0", ...
  int64_t block_size;     // values per block (1 for plain floats)
  size_t block_bytes;     // bytes per block
  bool supported;         // Tandem has kernels for it
};

// Traits of a known type id, or nullopt for an id ggml does not define (as far as we know).
std::optional<GgmlTypeTraits> TraitsOf(uint32_t type_id);
inline GgmlTypeTraits TraitsOf(GgmlType t) { return *TraitsOf(static_cast<uint32_t>(t)); }

// Every type Tandem computes with, in ggml's order.
inline constexpr GgmlType kSupportedTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kQ4_0,
                                               GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                                               GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ5_K,
                                               GgmlType::kQ6_K, GgmlType::kBF16};

// Names of the supported types for messages: "f32, f16, q4_0, ...".
std::string SupportedTypeNames();

// Parses a supported type's name ("f32", "q8_0", "q4_K", "bf16"; case-insensitive).
std::optional<GgmlType> ParseSupportedType(std::string_view name);

// llama.cpp's llama_ftype value for general.file_type of a model whose matrices are `t`
// (0, "all F32", for types without one).
uint32_t LlamaFileType(GgmlType t);

// Bytes of a row of `n` values; n must be a multiple of the block size.
inline size_t RowBytes(GgmlType t, int64_t n) {
  GgmlTypeTraits tr = TraitsOf(t);
  return static_cast<size_t>(n / tr.block_size) * tr.block_bytes;
}

}  // namespace tandem
