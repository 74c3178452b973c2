#include "common/gguf/gguf_file.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/enum_names.h"
#include "common/util/status_macros.h"
#include "common/util/string_view_compat.h"

namespace tandem {

static_assert(std::endian::native == std::endian::little,
              "the reader copies little-endian GGUF values directly");

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint64_t kDefaultAlignment = 32;
constexpr std::string_view kAlignmentKey = "general.alignment";
constexpr uint32_t kMaxDims = 4;            // GGML_MAX_DIMS
constexpr size_t kMaxTensorNameBytes = 63;  // GGML_MAX_NAME minus the NUL

// Smallest encodings, used to bound counts by the bytes left before allocating anything.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;                  // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset

absl::Status Invalid(const auto&... parts) {
  return absl::InvalidArgumentError(StrCatViews(parts...));
}

bool IsKnownValueType(uint32_t id) { return id <= static_cast<uint32_t>(GgufValueType::kFloat64); }

// Bounds-checked little-endian reader over the file bytes. Every read names what it reads
// so that a truncation error says where the file ends and what was expected there.
class Cursor {
 public:
  explicit Cursor(absl::Span<const uint8_t> bytes) : bytes_(bytes) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  absl::Status Need(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      return Invalid("truncated GGUF: ", what, " at offset ", pos_, " needs ", n,
                     " bytes, but only ", remaining(), " remain (file is ", bytes_.size(),
                     " bytes)");
    }
    return absl::OkStatus();
  }

  template <typename T>
  absl::StatusOr<T> Read(std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    RETURN_IF_ERROR(Need(sizeof(T), what));
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // A GGUF string: u64 byte length, then the bytes (no NUL).
  absl::StatusOr<std::string> ReadString(std::string_view what) {
    const uint64_t at = pos_;
    ASSIGN_OR_RETURN(uint64_t len, Read<uint64_t>(what));
    if (len > remaining()) {
      return Invalid("truncated GGUF: ", what, " at offset ", at, " has length ", len, " but only ",
                     remaining(), " bytes remain");
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  absl::Span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
};

// Reads one scalar of a fixed-size type into the widened representation of GgufValue.
absl::StatusOr<GgufValue> ReadScalar(Cursor& in, GgufValueType type, std::string_view what) {
  GgufValue v{type, uint64_t{0}};
  switch (type) {
    case GgufValueType::kUint8: {
      ASSIGN_OR_RETURN(uint8_t x, in.Read<uint8_t>(what));
      v.value = uint64_t{x};
      break;
    }
    case GgufValueType::kUint16: {
      ASSIGN_OR_RETURN(uint16_t x, in.Read<uint16_t>(what));
      v.value = uint64_t{x};
      break;
    }
    case GgufValueType::kUint32: {
      ASSIGN_OR_RETURN(uint32_t x, in.Read<uint32_t>(what));
      v.value = uint64_t{x};
      break;
    }
    case GgufValueType::kUint64: {
      ASSIGN_OR_RETURN(uint64_t x, in.Read<uint64_t>(what));
      v.value = x;
      break;
    }
    case GgufValueType::kInt8: {
      ASSIGN_OR_RETURN(int8_t x, in.Read<int8_t>(what));
      v.value = int64_t{x};
      break;
    }
    case GgufValueType::kInt16: {
      ASSIGN_OR_RETURN(int16_t x, in.Read<int16_t>(what));
      v.value = int64_t{x};
      break;
    }
    case GgufValueType::kInt32: {
      ASSIGN_OR_RETURN(int32_t x, in.Read<int32_t>(what));
      v.value = int64_t{x};
      break;
    }
    case GgufValueType::kInt64: {
      ASSIGN_OR_RETURN(int64_t x, in.Read<int64_t>(what));
      v.value = x;
      break;
    }
    case GgufValueType::kFloat32: {
      ASSIGN_OR_RETURN(float x, in.Read<float>(what));
      v.value = double{x};
      break;
    }
    case GgufValueType::kFloat64: {
      ASSIGN_OR_RETURN(double x, in.Read<double>(what));
      v.value = x;
      break;
    }
    case GgufValueType::kBool: {
      const uint64_t at = in.offset();
      ASSIGN_OR_RETURN(uint8_t x, in.Read<uint8_t>(what));
      // Anything but 0/1 would not survive a rewrite unchanged, so it is malformed.
      if (x > 1) return Invalid("invalid bool value ", int{x}, " in ", what, " at offset ", at);
      v.value = x == 1;
      break;
    }
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return absl::InternalError("ReadScalar called for a non-scalar type");
  }
  return v;
}

absl::StatusOr<GgufArray> ReadArray(Cursor& in, std::string_view what) {
  const uint64_t at = in.offset();
  ASSIGN_OR_RETURN(uint32_t elem_id, in.Read<uint32_t>(what));
  if (!IsKnownValueType(elem_id)) {
    return Invalid("unknown array element type id ", elem_id, " in ", what, " at offset ", at);
  }
  GgufArray arr{static_cast<GgufValueType>(elem_id), {}, {}, {}};
  if (arr.element_type == GgufValueType::kArray) {
    return Invalid("nested arrays are not supported (", what, " at offset ", at, ")");
  }
  const uint64_t count_at = in.offset();
  ASSIGN_OR_RETURN(uint64_t count, in.Read<uint64_t>(what));
  // Bound the count by the bytes left before reserving, so a forged count cannot make us
  // allocate gigabytes. A string element takes at least its 8-byte length.
  const uint64_t elem_min =
      arr.element_type == GgufValueType::kString ? 8 : GgufScalarSize(arr.element_type);
  if (count > in.remaining() / elem_min) {
    return Invalid("truncated GGUF: ", what, " array count ", count, " at offset ", count_at,
                   " needs at least ", elem_min, " bytes per ", GgufValueTypeName(arr.element_type),
                   " element, but only ", in.remaining(), " bytes remain");
  }
  switch (arr.element_type) {
    case GgufValueType::kString:
      arr.strings.reserve(count);
      for (uint64_t i = 0; i < count; ++i) {
        ASSIGN_OR_RETURN(std::string s, in.ReadString(what));
        arr.strings.push_back(std::move(s));
      }
      break;
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      arr.floats.reserve(count);
      for (uint64_t i = 0; i < count; ++i) {
        ASSIGN_OR_RETURN(GgufValue v, ReadScalar(in, arr.element_type, what));
        arr.floats.push_back(std::get<double>(v.value));
      }
      break;
    default:
      arr.ints.reserve(count);
      for (uint64_t i = 0; i < count; ++i) {
        ASSIGN_OR_RETURN(GgufValue v, ReadScalar(in, arr.element_type, what));
        if (auto* u = std::get_if<uint64_t>(&v.value)) {
          arr.ints.push_back(static_cast<int64_t>(*u));  // bit pattern kept for uint64
        } else if (auto* s = std::get_if<int64_t>(&v.value)) {
          arr.ints.push_back(*s);
        } else {
          arr.ints.push_back(std::get<bool>(v.value) ? 1 : 0);
        }
      }
      break;
  }
  return arr;
}

absl::StatusOr<GgufValue> ReadValue(Cursor& in, GgufValueType type, std::string_view what) {
  switch (type) {
    case GgufValueType::kString: {
      ASSIGN_OR_RETURN(std::string s, in.ReadString(what));
      return GgufValue{type, std::move(s)};
    }
    case GgufValueType::kArray: {
      ASSIGN_OR_RETURN(GgufArray a, ReadArray(in, what));
      return GgufValue{type, std::move(a)};
    }
    default:
      return ReadScalar(in, type, what);
  }
}

// a * b, or nullopt when it does not fit in int64 (both non-negative).
std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

uint64_t AlignUp(uint64_t x, uint64_t alignment) {
  return (x + alignment - 1) & ~(alignment - 1);  // callers rule out overflow first
}

absl::Status TypeMismatch(std::string_view key, const GgufValue& v, std::string_view wanted) {
  return Invalid("metadata key '", key, "' has type ", GgufValueTypeName(v.type), ", not ", wanted);
}

// Step 1: magic, version, tensor count, metadata count (both checked against the bytes
// that remain, so a corrupt count cannot make the parser reserve terabytes).
absl::Status ReadHeader(Cursor& in, absl::Span<const uint8_t> bytes, uint32_t& version,
                        uint64_t& tensor_count, uint64_t& kv_count) {
  RETURN_IF_ERROR(in.Need(4, "magic"));
  if (std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return Invalid("not a GGUF file: bad magic at offset 0 (expected \"GGUF\")");
  }
  in.Read<uint32_t>("magic").IgnoreError();
  ASSIGN_OR_RETURN(version, in.Read<uint32_t>("version"));
  if (version != 2 && version != 3) {
    const uint32_t swapped = __builtin_bswap32(version);
    if (swapped == 2 || swapped == 3) {
      return Invalid("unsupported GGUF version: file is big-endian (version ", swapped,
                     "); only little-endian files are supported");
    }
    return Invalid("unsupported GGUF version ", version, " at offset 4 (supported: 2, 3)");
  }
  const uint64_t tensor_count_at = in.offset();
  ASSIGN_OR_RETURN(tensor_count, in.Read<uint64_t>("tensor count"));
  const uint64_t kv_count_at = in.offset();
  ASSIGN_OR_RETURN(kv_count, in.Read<uint64_t>("metadata count"));
  if (kv_count > in.remaining() / kMinKvBytes) {
    return Invalid("truncated GGUF: metadata count ", kv_count, " at offset ", kv_count_at,
                   " cannot fit in the ", in.remaining(), " bytes that remain");
  }
  if (tensor_count > (in.remaining() - kv_count * kMinKvBytes) / kMinTensorInfoBytes) {
    return Invalid("truncated GGUF: tensor count ", tensor_count, " at offset ", tensor_count_at,
                   " cannot fit in the ", in.remaining(), " bytes that remain");
  }
  return absl::OkStatus();
}

// Step 2, one metadata key/value pair (#i), its key not among `seen`.
absl::StatusOr<std::pair<std::string, GgufValue>> ReadMetadataEntry(
    Cursor& in, uint64_t i, const absl::flat_hash_map<std::string, size_t>& seen) {
  const uint64_t key_at = in.offset();
  ASSIGN_OR_RETURN(std::string key, in.ReadString(absl::StrCat("metadata key #", i)));
  if (key.empty()) return Invalid("empty metadata key #", i, " at offset ", key_at);
  if (seen.contains(key)) return Invalid("duplicate metadata key '", key, "' at offset ", key_at);
  const std::string what = absl::StrCat("metadata '", key, "'");
  const uint64_t type_at = in.offset();
  ASSIGN_OR_RETURN(uint32_t type_id, in.Read<uint32_t>(what));
  if (!IsKnownValueType(type_id)) {
    return Invalid("unknown value type id ", type_id, " for ", what, " at offset ", type_at);
  }
  ASSIGN_OR_RETURN(GgufValue value, ReadValue(in, static_cast<GgufValueType>(type_id), what));
  return std::make_pair(std::move(key), std::move(value));
}

// Step 3, one tensor info (#i): name (not among `seen`), shape, type, offset (aligned to
// `alignment`).
absl::StatusOr<GgufTensorInfo> ReadTensorInfo(
    Cursor& in, uint64_t i, uint64_t alignment,
    const absl::flat_hash_map<std::string, size_t>& seen) {
  const uint64_t name_at = in.offset();
  GgufTensorInfo t;
  ASSIGN_OR_RETURN(t.name, in.ReadString(absl::StrCat("tensor name #", i)));
  if (t.name.empty()) return Invalid("empty tensor name #", i, " at offset ", name_at);
  if (t.name.size() > kMaxTensorNameBytes) {
    return Invalid("tensor name '", t.name, "' at offset ", name_at, " is too long (",
                   t.name.size(), " bytes, at most ", kMaxTensorNameBytes, ")");
  }
  if (seen.contains(t.name)) {
    return Invalid("duplicate tensor name '", t.name, "' at offset ", name_at);
  }
  const std::string what = absl::StrCat("tensor '", t.name, "'");
  const uint64_t dims_at = in.offset();
  ASSIGN_OR_RETURN(uint32_t n_dims, in.Read<uint32_t>(what));
  if (n_dims < 1 || n_dims > kMaxDims) {
    return Invalid(what, " has n_dims ", n_dims, " at offset ", dims_at, " (must be 1..", kMaxDims,
                   ")");
  }
  int64_t elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t dim_at = in.offset();
    ASSIGN_OR_RETURN(int64_t ne, in.Read<int64_t>(what));
    if (ne <= 0) {
      return Invalid(what, " dimension ", d, " is ", ne, " at offset ", dim_at,
                     " (must be positive)");
    }
    std::optional<int64_t> product = CheckedMul(elements, ne);
    if (!product) {
      return Invalid(what, " shape overflows: element count exceeds 2^63 at dimension ", d);
    }
    elements = *product;
    t.shape.push_back(ne);
  }
  const uint64_t type_at = in.offset();
  ASSIGN_OR_RETURN(uint32_t type_id, in.Read<uint32_t>(what));
  std::optional<GgmlTypeTraits> traits = TraitsOf(type_id);
  if (!traits) {
    return Invalid(what, " has unknown type id ", type_id, " at offset ", type_at);
  }
  t.type = static_cast<GgmlType>(type_id);
  if (t.shape[0] % traits->block_size != 0) {
    return Invalid(what, " row length ", t.shape[0], " is not a multiple of the ", traits->name,
                   " block size ", traits->block_size);
  }
  const uint64_t offset_at = in.offset();
  ASSIGN_OR_RETURN(t.offset, in.Read<uint64_t>(what));
  if (t.offset % alignment != 0) {
    return Invalid(what, " data offset ", t.offset, " at offset ", offset_at,
                   " is misaligned (alignment ", alignment, ")");
  }
  return t;
}

// Step 4: every tensor's data lies inside the file's data section and overlaps no other;
// sets each tensor's view of its bytes.
absl::Status LocateTensorData(absl::Span<const uint8_t> bytes, uint64_t data_offset,
                              uint64_t file_size, std::vector<GgufTensorInfo>& tensors) {
  const uint64_t data_bytes = file_size - data_offset;
  for (GgufTensorInfo& t : tensors) {
    const GgmlTypeTraits traits = TraitsOf(t.type);
    const int64_t blocks = t.num_elements() / traits.block_size;
    std::optional<int64_t> size = CheckedMul(blocks, static_cast<int64_t>(traits.block_bytes));
    if (!size || t.offset > data_bytes || static_cast<uint64_t>(*size) > data_bytes - t.offset) {
      return Invalid("truncated GGUF: tensor '", t.name, "' data [offset ", data_offset + t.offset,
                     ", ", size ? absl::StrCat(*size) : std::string("more than 2^63"),
                     " bytes) extends past end of file (", file_size, " bytes)");
    }
    t.data = bytes.subspan(data_offset + t.offset, static_cast<size_t>(*size));
  }
  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(tensors.size());
  for (const GgufTensorInfo& t : tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo& prev = *by_offset[i - 1];
    const GgufTensorInfo& cur = *by_offset[i];
    if (prev.offset + prev.data.size() > cur.offset) {
      return Invalid("tensor '", cur.name, "' data at offset ", data_offset + cur.offset,
                     " overlaps tensor '", prev.name, "' [offset ", data_offset + prev.offset, ", ",
                     prev.data.size(), " bytes)");
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view GgufValueTypeName(GgufValueType type) {
  static constexpr std::string_view kNames[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                                "int32",  "float32", "bool",   "string", "array",
                                                "uint64", "int64",   "float64"};
  return EnumName(type, kNames);
}

size_t GgufScalarSize(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

size_t GgufArray::size() const {
  switch (element_type) {
    case GgufValueType::kString:
      return strings.size();
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      return floats.size();
    default:
      return ints.size();
  }
}

int64_t GgufTensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated against overflow when parsed
  return n;
}

int64_t GgufTensorInfo::rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path, LoadMode mode) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapped, MappedFile::Open(path, mode));
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  absl::Status st = f->ParseAll(mapped->bytes());
  if (!st.ok()) {
    return absl::Status(st.code(), absl::StrCat(path, ": ", st.message()));
  }
  f->file_ = std::move(mapped);
  return f;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(absl::Span<const uint8_t> bytes) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  RETURN_IF_ERROR(f->ParseAll(bytes));
  return f;
}

absl::Status GgufFile::ParseAll(absl::Span<const uint8_t> bytes) {
  file_size_ = bytes.size();
  Cursor in(bytes);
  uint64_t tensor_count = 0, kv_count = 0;
  RETURN_IF_ERROR(ReadHeader(in, bytes, version_, tensor_count, kv_count));

  // Metadata key/value pairs.
  metadata_.reserve(kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    ASSIGN_OR_RETURN(auto entry, ReadMetadataEntry(in, i, metadata_index_));
    metadata_index_.emplace(entry.first, metadata_.size());
    metadata_.push_back(std::move(entry));
  }

  // Alignment of the data section and of every tensor offset.
  alignment_ = kDefaultAlignment;
  if (const GgufValue* a = Find(kAlignmentKey); a != nullptr) {
    absl::StatusOr<uint64_t> v = GetUint(kAlignmentKey);
    if (!v.ok()) return Invalid("invalid ", kAlignmentKey, ": ", v.status().message());
    if (!std::has_single_bit(*v) || *v > (uint64_t{1} << 30)) {
      return Invalid("invalid ", kAlignmentKey, " ", *v,
                     ": alignment must be a nonzero power of two (at most 2^30)");
    }
    alignment_ = *v;
  }

  // Tensor infos.
  tensors_.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    ASSIGN_OR_RETURN(GgufTensorInfo t, ReadTensorInfo(in, i, alignment_, tensor_index_));
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment. A file without tensors
  // may end before that padding.
  if (in.offset() > std::numeric_limits<uint64_t>::max() - alignment_) {
    return Invalid("GGUF header too large");
  }
  data_offset_ = AlignUp(in.offset(), alignment_);
  if (data_offset_ > file_size_) {
    if (!tensors_.empty()) {
      return Invalid("truncated GGUF: data section at offset ", data_offset_,
                     " starts past end of file (", file_size_, " bytes)");
    }
    data_offset_ = file_size_;
  }

  return LocateTensorData(bytes, data_offset_, file_size_, tensors_);
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = metadata_index_.find(AbslView(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(AbslView(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr)
    return absl::NotFoundError(absl::StrCat("metadata key '", AbslView(key), "' not found"));
  if (const auto* s = std::get_if<std::string>(&v->value)) return *s;
  return TypeMismatch(key, *v, "string");
}

absl::StatusOr<uint64_t> GgufFile::GetUint(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr)
    return absl::NotFoundError(absl::StrCat("metadata key '", AbslView(key), "' not found"));
  if (const auto* u = std::get_if<uint64_t>(&v->value)) return *u;
  if (const auto* s = std::get_if<int64_t>(&v->value)) {
    if (*s < 0) {
      return Invalid("metadata key '", key, "' (", GgufValueTypeName(v->type), ") is ", *s,
                     ", not a non-negative integer");
    }
    return static_cast<uint64_t>(*s);
  }
  return TypeMismatch(key, *v, "an unsigned integer");
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr)
    return absl::NotFoundError(absl::StrCat("metadata key '", AbslView(key), "' not found"));
  if (const auto* d = std::get_if<double>(&v->value)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&v->value)) return static_cast<double>(*u);
  if (const auto* s = std::get_if<int64_t>(&v->value)) return static_cast<double>(*s);
  return TypeMismatch(key, *v, "a number");
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr)
    return absl::NotFoundError(absl::StrCat("metadata key '", AbslView(key), "' not found"));
  if (const auto* b = std::get_if<bool>(&v->value)) return *b;
  return TypeMismatch(key, *v, "bool");
}

absl::StatusOr<const GgufArray*> GgufFile::GetArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr)
    return absl::NotFoundError(absl::StrCat("metadata key '", AbslView(key), "' not found"));
  if (const auto* a = std::get_if<GgufArray>(&v->value)) return a;
  return TypeMismatch(key, *v, "array");
}

}  // namespace tandem
