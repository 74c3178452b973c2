#include "common/gguf/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/util/errno_status.h"
#include "common/util/status_macros.h"
#include "common/util/string_view_compat.h"

namespace tandem {

static_assert(std::endian::native == std::endian::little,
              "the writer copies values in host order; GGUF is little-endian");

namespace {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr std::string_view kAlignmentKey = "general.alignment";
constexpr size_t kMaxDims = 4;              // GGML_MAX_DIMS
constexpr size_t kMaxTensorNameBytes = 63;  // GGML_MAX_NAME minus the NUL
constexpr size_t kWriteBufferBytes = 1 << 20;

absl::Status Invalid(const auto&... parts) {
  return absl::InvalidArgumentError(StrCatViews(parts...));
}

// What failed on which file (errno_status.h).
absl::Status ErrnoError(int err, std::string_view what, std::string_view path) {
  return ErrnoStatus(err, StrCatViews(what, " ", path));
}

// Little-endian serialization of the header (metadata and tensor infos).
class Encoder {
 public:
  template <typename T>
  void Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &v, sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

bool IsUnsigned(GgufValueType t) {
  return t == GgufValueType::kUint8 || t == GgufValueType::kUint16 || t == GgufValueType::kUint32 ||
         t == GgufValueType::kUint64;
}
bool IsFloat(GgufValueType t) {
  return t == GgufValueType::kFloat32 || t == GgufValueType::kFloat64;
}

// Writes an integer of the width of `type` after checking that it fits. `bits` is the value
// as stored in GgufValue/GgufArray: uint64 for unsigned scalars, int64 otherwise (uint64
// array elements as their bit pattern).
absl::Status PutInteger(Encoder& enc, GgufValueType type, int64_t v, bool is_uint64_bits,
                        std::string_view what) {
  auto out_of_range = [&] {
    return Invalid(what, ": value ",
                   is_uint64_bits ? absl::StrCat(static_cast<uint64_t>(v)) : absl::StrCat(v),
                   " does not fit in ", GgufValueTypeName(type));
  };
  auto in = [&](int64_t lo, int64_t hi) { return !is_uint64_bits && v >= lo && v <= hi; };
  auto in_u = [&](uint64_t hi) {
    return is_uint64_bits ? static_cast<uint64_t>(v) <= hi : (v >= 0 && uint64_t(v) <= hi);
  };
  switch (type) {
    case GgufValueType::kUint8:
      if (!in_u(UINT8_MAX)) return out_of_range();
      enc.Put<uint8_t>(static_cast<uint8_t>(v));
      return absl::OkStatus();
    case GgufValueType::kUint16:
      if (!in_u(UINT16_MAX)) return out_of_range();
      enc.Put<uint16_t>(static_cast<uint16_t>(v));
      return absl::OkStatus();
    case GgufValueType::kUint32:
      if (!in_u(UINT32_MAX)) return out_of_range();
      enc.Put<uint32_t>(static_cast<uint32_t>(v));
      return absl::OkStatus();
    case GgufValueType::kUint64:
      if (!is_uint64_bits && v < 0) return out_of_range();
      enc.Put<uint64_t>(static_cast<uint64_t>(v));
      return absl::OkStatus();
    case GgufValueType::kInt8:
      if (!in(INT8_MIN, INT8_MAX)) return out_of_range();
      enc.Put<int8_t>(static_cast<int8_t>(v));
      return absl::OkStatus();
    case GgufValueType::kInt16:
      if (!in(INT16_MIN, INT16_MAX)) return out_of_range();
      enc.Put<int16_t>(static_cast<int16_t>(v));
      return absl::OkStatus();
    case GgufValueType::kInt32:
      if (!in(INT32_MIN, INT32_MAX)) return out_of_range();
      enc.Put<int32_t>(static_cast<int32_t>(v));
      return absl::OkStatus();
    case GgufValueType::kInt64:
      if (is_uint64_bits && v < 0) return out_of_range();
      enc.Put<int64_t>(v);
      return absl::OkStatus();
    case GgufValueType::kBool:
      if (!in_u(1)) return out_of_range();
      enc.Put<uint8_t>(static_cast<uint8_t>(v));
      return absl::OkStatus();
    default:
      return absl::InternalError("PutInteger called for a non-integer type");
  }
}

absl::Status PutFloat(Encoder& enc, GgufValueType type, double v) {
  if (type == GgufValueType::kFloat32) {
    enc.Put<float>(static_cast<float>(v));
  } else {
    enc.Put<double>(v);
  }
  return absl::OkStatus();
}

absl::Status PutArray(Encoder& enc, const GgufArray& a, std::string_view what) {
  const GgufValueType et = a.element_type;
  if (static_cast<uint32_t>(et) > static_cast<uint32_t>(GgufValueType::kFloat64)) {
    return Invalid(what, ": unknown array element type id ", static_cast<uint32_t>(et));
  }
  if (et == GgufValueType::kArray) return Invalid(what, ": nested arrays are not supported");
  // Values in a vector the element type does not use would be silently dropped.
  const size_t n = a.size();
  if (n == 0 && a.ints.size() + a.floats.size() + a.strings.size() > 0) {
    return Invalid(what, ": ", GgufValueTypeName(et),
                   " array has its values in the vector of another element type");
  }
  enc.Put<uint32_t>(static_cast<uint32_t>(et));
  enc.Put<uint64_t>(n);
  if (et == GgufValueType::kString) {
    for (const std::string& s : a.strings) enc.PutString(s);
  } else if (IsFloat(et)) {
    for (double v : a.floats) RETURN_IF_ERROR(PutFloat(enc, et, v));
  } else {
    for (int64_t v : a.ints) {
      RETURN_IF_ERROR(PutInteger(enc, et, v, et == GgufValueType::kUint64, what));
    }
  }
  return absl::OkStatus();
}

// Encodes type id and value, checking that the variant holds what the type says.
absl::Status PutValue(Encoder& enc, const GgufValue& v, std::string_view key) {
  const std::string what = absl::StrCat("metadata '", AbslView(key), "'");
  const GgufValueType t = v.type;
  auto mismatch = [&] { return Invalid(what, ": value does not hold a ", GgufValueTypeName(t)); };
  if (static_cast<uint32_t>(t) > static_cast<uint32_t>(GgufValueType::kFloat64)) {
    return Invalid(what, ": unknown value type id ", static_cast<uint32_t>(t));
  }
  enc.Put<uint32_t>(static_cast<uint32_t>(t));
  if (t == GgufValueType::kString) {
    const auto* s = std::get_if<std::string>(&v.value);
    if (s == nullptr) return mismatch();
    enc.PutString(*s);
  } else if (t == GgufValueType::kArray) {
    const auto* a = std::get_if<GgufArray>(&v.value);
    if (a == nullptr) return mismatch();
    RETURN_IF_ERROR(PutArray(enc, *a, what));
  } else if (IsFloat(t)) {
    const auto* d = std::get_if<double>(&v.value);
    if (d == nullptr) return mismatch();
    RETURN_IF_ERROR(PutFloat(enc, t, *d));
  } else if (t == GgufValueType::kBool) {
    const auto* b = std::get_if<bool>(&v.value);
    if (b == nullptr) return mismatch();
    enc.Put<uint8_t>(*b ? 1 : 0);
  } else if (const auto* u = std::get_if<uint64_t>(&v.value)) {
    RETURN_IF_ERROR(PutInteger(enc, t, static_cast<int64_t>(*u), /*is_uint64_bits=*/true, what));
  } else if (const auto* s = std::get_if<int64_t>(&v.value)) {
    RETURN_IF_ERROR(PutInteger(enc, t, *s, /*is_uint64_bits=*/false, what));
  } else {
    return mismatch();
  }
  return absl::OkStatus();
}

// Buffered writes to a file descriptor; the caller closes or abandons it.
class FileSink {
 public:
  static absl::StatusOr<std::unique_ptr<FileSink>> Create(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError(errno, "cannot create", path);
    return std::unique_ptr<FileSink>(new FileSink(path, fd));
  }
  ~FileSink() {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Write(absl::Span<const uint8_t> data) {
    if (buffer_.size() + data.size() > kWriteBufferBytes) RETURN_IF_ERROR(Flush());
    if (data.size() >= kWriteBufferBytes) return WriteAll(data);
    buffer_.insert(buffer_.end(), data.begin(), data.end());
    return absl::OkStatus();
  }
  absl::Status WriteZeros(size_t n) {
    static constexpr uint8_t kZeros[64] = {};
    while (n > 0) {
      const size_t k = std::min(n, sizeof(kZeros));
      RETURN_IF_ERROR(Write({kZeros, k}));
      n -= k;
    }
    return absl::OkStatus();
  }
  uint64_t position() const { return written_ + buffer_.size(); }

  // Flushes, syncs to disk and closes; the file is complete only if this succeeds.
  absl::Status Close() {
    RETURN_IF_ERROR(Flush());
    if (::fsync(fd_) != 0) return ErrnoError(errno, "cannot sync", path_);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoError(errno, "cannot close", path_);
    return absl::OkStatus();
  }

 private:
  FileSink(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
    buffer_.reserve(kWriteBufferBytes);
  }
  absl::Status Flush() {
    RETURN_IF_ERROR(WriteAll(buffer_));
    buffer_.clear();
    return absl::OkStatus();
  }
  absl::Status WriteAll(absl::Span<const uint8_t> data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "cannot write", path_);
      }
      data.remove_prefix(static_cast<size_t>(n));
      written_ += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }

  std::string path_;
  int fd_;
  uint64_t written_ = 0;
  std::vector<uint8_t> buffer_;
};

uint64_t PaddingFor(uint64_t offset, uint64_t alignment) {
  return (alignment - offset % alignment) % alignment;
}

}  // namespace

void GgufWriter::SetValue(std::string key, GgufValue value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);  // keeps the key's first position
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::SetString(std::string key, std::string value) {
  SetValue(std::move(key), GgufValue{GgufValueType::kString, std::move(value)});
}

void GgufWriter::SetUint32(std::string key, uint32_t value) {
  SetValue(std::move(key), GgufValue{GgufValueType::kUint32, uint64_t{value}});
}

void GgufWriter::SetFloat32(std::string key, float value) {
  SetValue(std::move(key), GgufValue{GgufValueType::kFloat32, double{value}});
}

void GgufWriter::SetBool(std::string key, bool value) {
  SetValue(std::move(key), GgufValue{GgufValueType::kBool, value});
}

void GgufWriter::SetStringArray(std::string key, std::vector<std::string> values) {
  GgufArray a{GgufValueType::kString, {}, {}, std::move(values)};
  SetValue(std::move(key), GgufValue{GgufValueType::kArray, std::move(a)});
}

void GgufWriter::SetFloat32Array(std::string key, std::vector<float> values) {
  GgufArray a{GgufValueType::kFloat32, {}, std::vector<double>(values.begin(), values.end()), {}};
  SetValue(std::move(key), GgufValue{GgufValueType::kArray, std::move(a)});
}

void GgufWriter::SetInt32Array(std::string key, std::vector<int32_t> values) {
  GgufArray a{GgufValueType::kInt32, std::vector<int64_t>(values.begin(), values.end()), {}, {}};
  SetValue(std::move(key), GgufValue{GgufValueType::kArray, std::move(a)});
}

void GgufWriter::AddTensor(std::string name, std::vector<int64_t> shape, GgmlType type,
                           TensorFiller filler) {
  tensors_.push_back({std::move(name), std::move(shape), type, std::move(filler)});
}

absl::Status GgufWriter::Write(const std::string& path,
                               const std::function<void(size_t, size_t)>& progress) const {
  // Alignment: general.alignment if set (an unsigned integer, power of two), else 32.
  uint64_t alignment = kDefaultAlignment;
  for (const auto& [key, value] : metadata_) {
    if (key.empty()) return Invalid("empty metadata key");
    if (key != kAlignmentKey) continue;
    const auto* u = std::get_if<uint64_t>(&value.value);
    if (!IsUnsigned(value.type) || u == nullptr || !std::has_single_bit(*u) ||
        *u > (uint64_t{1} << 30)) {
      return Invalid(kAlignmentKey, " must be an unsigned integer power of two (at most 2^30)");
    }
    alignment = *u;
  }

  Encoder enc;
  enc.Put<uint32_t>(0x46554747);  // "GGUF"
  enc.Put<uint32_t>(kVersion);
  enc.Put<uint64_t>(tensors_.size());
  enc.Put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    enc.PutString(key);
    RETURN_IF_ERROR(PutValue(enc, value, key));
  }

  // Tensor infos; data offsets are laid out back to back, each padded to the alignment.
  std::vector<uint64_t> sizes;
  sizes.reserve(tensors_.size());
  absl::flat_hash_set<std::string> names;
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    const std::string what = absl::StrCat("tensor '", t.name, "'");
    if (t.name.empty()) return Invalid("empty tensor name");
    if (t.name.size() > kMaxTensorNameBytes) {
      return Invalid(what, ": name is longer than ", kMaxTensorNameBytes, " bytes");
    }
    if (!names.insert(t.name).second) return Invalid("duplicate tensor name '", t.name, "'");
    if (t.shape.empty() || t.shape.size() > kMaxDims) {
      return Invalid(what, " has ", t.shape.size(), " dimensions (must be 1..", kMaxDims, ")");
    }
    std::optional<GgmlTypeTraits> traits = TraitsOf(static_cast<uint32_t>(t.type));
    if (!traits) {
      return Invalid(what, " has unknown type id ", static_cast<uint32_t>(t.type));
    }
    int64_t elements = 1;
    for (int64_t d : t.shape) {
      if (d <= 0) return Invalid(what, " has non-positive dimension ", d);
      if (__builtin_mul_overflow(elements, d, &elements)) {
        return Invalid(what, ": element count overflows");
      }
    }
    if (t.shape[0] % traits->block_size != 0) {
      return Invalid(what, " row length ", t.shape[0], " is not a multiple of the ", traits->name,
                     " block size ", traits->block_size);
    }
    uint64_t bytes;
    if (__builtin_mul_overflow(static_cast<uint64_t>(elements / traits->block_size),
                               traits->block_bytes, &bytes)) {
      return Invalid(what, ": byte size overflows");
    }
    if (!t.filler) return Invalid(what, " has no data filler");
    enc.PutString(t.name);
    enc.Put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) enc.Put<int64_t>(d);
    enc.Put<uint32_t>(static_cast<uint32_t>(t.type));
    enc.Put<uint64_t>(offset);
    sizes.push_back(bytes);
    offset += bytes + PaddingFor(bytes, alignment);
  }

  // Stream everything into a temporary file, renamed over `path` only when complete.
  const std::string tmp_path = path + ".tmp";
  bool created = false;  // if creation failed, whatever has that name is not ours to remove
  absl::Status st = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::unique_ptr<FileSink> sink, FileSink::Create(tmp_path));
    created = true;
    RETURN_IF_ERROR(sink->Write(enc.bytes()));
    RETURN_IF_ERROR(sink->WriteZeros(PaddingFor(sink->position(), alignment)));
    std::vector<uint8_t> buffer;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const PendingTensor& t = tensors_[i];
      // Zeroed so a filler that skips bytes cannot leak the previous tensor's data.
      buffer.assign(sizes[i], 0);
      absl::Status fill = t.filler(buffer);
      if (!fill.ok()) {
        return absl::Status(fill.code(), absl::StrCat("tensor '", t.name, "': ", fill.message()));
      }
      if (buffer.size() != sizes[i]) {
        return absl::InternalError(absl::StrCat("tensor '", t.name, "': filler resized data to ",
                                                buffer.size(), " bytes, expected ", sizes[i]));
      }
      RETURN_IF_ERROR(sink->Write(buffer));
      RETURN_IF_ERROR(sink->WriteZeros(PaddingFor(sizes[i], alignment)));
      if (progress) progress(i + 1, tensors_.size());
    }
    return sink->Close();
  }();
  if (st.ok() && ::rename(tmp_path.c_str(), path.c_str()) != 0) {
    st = ErrnoError(errno, "cannot rename the temporary file to", path);
  }
  if (!st.ok() && created) ::unlink(tmp_path.c_str());
  return st;
}

}  // namespace tandem
