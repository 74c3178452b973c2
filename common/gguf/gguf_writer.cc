#include "common/gguf/gguf_writer.h"

// Temporary: the writer lands in the next commit; the reader is committed first.
namespace tandem {

void GgufWriter::SetString(std::string key, std::string value) {}
void GgufWriter::SetUint32(std::string key, uint32_t value) {}
void GgufWriter::SetFloat32(std::string key, float value) {}
void GgufWriter::SetBool(std::string key, bool value) {}
void GgufWriter::SetStringArray(std::string key, std::vector<std::string> values) {}
void GgufWriter::SetFloat32Array(std::string key, std::vector<float> values) {}
void GgufWriter::SetInt32Array(std::string key, std::vector<int32_t> values) {}
void GgufWriter::SetValue(std::string key, GgufValue value) {}
void GgufWriter::AddTensor(std::string name, std::vector<int64_t> shape, GgmlType type,
                           TensorFiller filler) {}
absl::Status GgufWriter::Write(const std::string& path,
                               const std::function<void(size_t, size_t)>& progress) const {
  return absl::UnimplementedError("GgufWriter::Write is not implemented yet");
}

}  // namespace tandem
