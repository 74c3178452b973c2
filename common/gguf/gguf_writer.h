// Writes GGUF version 3 files: metadata, then tensor infos, then aligned tensor data.
// Used by `tandem quantize`, `synth` and `split`. Tensor data is streamed to the file
// one tensor at a time so that multi-GB models never need to sit in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/gguf/gguf_file.h"

namespace tandem {

class GgufWriter {
 public:
  GgufWriter() = default;

  // Metadata setters (types as llama.cpp writes them).
  void SetString(std::string key, std::string value);
  void SetUint32(std::string key, uint32_t value);
  void SetFloat32(std::string key, float value);
  void SetBool(std::string key, bool value);
  void SetStringArray(std::string key, std::vector<std::string> values);
  void SetFloat32Array(std::string key, std::vector<float> values);
  void SetInt32Array(std::string key, std::vector<int32_t> values);
  // Copies a value read from another file (e.g. all metadata of a model being quantized).
  void SetValue(std::string key, GgufValue value);

  // Produces the bytes of one tensor into `out` (resized by the writer to the tensor's
  // byte size). Called once, in tensor order, while Write() runs.
  using TensorFiller = std::function<absl::Status(std::vector<uint8_t>& out)>;

  // Adds a tensor; shape is ne0-first, shape[0] a multiple of the type's block size.
  void AddTensor(std::string name, std::vector<int64_t> shape, GgmlType type, TensorFiller filler);

  // Writes to `path` (via a temporary file renamed into place, so a failure never leaves
  // a truncated model behind). `progress(i, n)` is called after each tensor if set.
  absl::Status Write(const std::string& path,
                     const std::function<void(size_t, size_t)>& progress = nullptr) const;

 private:
  struct PendingTensor {
    std::string name;
    std::vector<int64_t> shape;
    GgmlType type;
    TensorFiller filler;
  };
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace tandem
