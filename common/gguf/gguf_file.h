// GGUF (versions 2 and 3) reader over a memory-mapped file. Every count, size, offset
// and type in the header is validated against the file before it is used, so a
// malformed file yields an InvalidArgument error naming what is wrong, never a crash.
// Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/tensor/ggml_type.h"
#include "common/util/mapped_file.h"

namespace tandem {

// GGUF metadata value type ids.
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "uint32", "string", "array", ...; "unknown" for an id outside the enum.
std::string_view GgufValueTypeName(GgufValueType type);
// Encoded bytes of one scalar of `type`; 0 for string, array and unknown ids.
size_t GgufScalarSize(GgufValueType type);

// A metadata array. Numeric arrays keep their element type; values are widened into
// `ints` (all integer types and bool) or `floats` (float32/float64); strings go to `strings`.
// Only the vector for the element type is used. uint64 elements above INT64_MAX are kept
// as their two's-complement bit pattern, so a read/write round trip is exact. Arrays of
// arrays are rejected (as llama.cpp does).
struct GgufArray {
  GgufValueType element_type;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  size_t size() const;
  bool operator==(const GgufArray&) const = default;  // floats compare by value
};

// A scalar or array metadata value. Integers are widened to int64/uint64 per signedness.
struct GgufValue {
  GgufValueType type;
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> value;
  bool operator==(const GgufValue&) const = default;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ne0 first: ne0 is the contiguous (row) dimension
  GgmlType type;
  uint64_t offset;                 // relative to the data section
  absl::Span<const uint8_t> data;  // validated to lie inside the file
  int64_t num_elements() const;
  int64_t rows() const;  // product of shape[1..]
  int64_t row_length() const { return shape.empty() ? 1 : shape[0]; }
};

class GgufFile {
 public:
  // Maps and parses `path`.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path,
                                                        LoadMode mode = LoadMode::kMmap);
  // Parses bytes owned by the caller (must outlive the GgufFile); for tests and fuzzing.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Parse(absl::Span<const uint8_t> bytes);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }  // empty for Parse()
  uint64_t file_size() const { return file_size_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section

  // Metadata, in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* Find(std::string_view key) const;

  // Typed getters: NotFound if missing, InvalidArgument (naming key and types) if the
  // stored type does not convert losslessly.
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<uint64_t> GetUint(std::string_view key) const;  // non-negative integers
  absl::StatusOr<double> GetFloat(std::string_view key) const;   // any numeric type
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  absl::StatusOr<const GgufArray*> GetArray(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;  // nullptr if absent

 private:
  GgufFile() = default;
  absl::Status ParseAll(absl::Span<const uint8_t> bytes);

  std::unique_ptr<MappedFile> file_;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t file_size_ = 0;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  absl::flat_hash_map<std::string, size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
};

}  // namespace tandem
