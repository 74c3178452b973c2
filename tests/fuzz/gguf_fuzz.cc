// libFuzzer target: GgufFile::Parse on arbitrary bytes. Besides not crashing, a file that
// parses must satisfy the reader's promises; a broken promise traps so the fuzzer reports it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/gguf/gguf_file.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// Reads every byte and field so ASan sees any out-of-bounds span or dangling string.
uint64_t TouchValue(const tandem::GgufValue& v) {
  uint64_t h = static_cast<uint64_t>(v.type);
  if (const auto* a = std::get_if<tandem::GgufArray>(&v.value)) {
    Check(a->element_type != tandem::GgufValueType::kArray);
    for (int64_t x : a->ints) h = h * 31 + static_cast<uint64_t>(x);
    for (double x : a->floats) h = h * 31 + static_cast<uint64_t>(x == x);
    for (const std::string& s : a->strings) {
      for (char c : s) h = h * 31 + static_cast<uint8_t>(c);
    }
    h += a->size();
  } else if (const auto* s = std::get_if<std::string>(&v.value)) {
    for (char c : *s) h = h * 31 + static_cast<uint8_t>(c);
  } else if (const auto* u = std::get_if<uint64_t>(&v.value)) {
    h += *u;
  } else if (const auto* i = std::get_if<int64_t>(&v.value)) {
    h += static_cast<uint64_t>(*i);
  }
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = tandem::GgufFile::Parse({data, size});
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  const tandem::GgufFile& f = **parsed;
  Check(f.version() == 2 || f.version() == 3);
  Check(f.file_size() == size);
  Check(f.alignment() != 0 && (f.alignment() & (f.alignment() - 1)) == 0);
  Check(f.data_offset() <= size);

  volatile uint64_t sink = 0;
  for (const auto& [key, value] : f.metadata()) {
    Check(f.Find(key) == &value);
    sink = sink + TouchValue(value);
    // Getters must agree with the stored type and never crash.
    sink = sink + f.GetString(key).ok() + f.GetUint(key).ok() + f.GetFloat(key).ok() +
           f.GetBool(key).ok() + f.GetArray(key).ok();
  }
  Check(f.Find("") == nullptr && f.FindTensor("") == nullptr);  // empty names are rejected
  Check(f.GetUint("").status().code() == absl::StatusCode::kNotFound);
  for (const tandem::GgufTensorInfo& t : f.tensors()) {
    Check(f.FindTensor(t.name) == &t);
    Check(!t.shape.empty() && t.shape.size() <= 4);
    Check(t.offset % f.alignment() == 0);
    const tandem::GgmlTypeTraits traits = tandem::TraitsOf(t.type);
    Check(t.row_length() % traits.block_size == 0);
    Check(t.data.size() == tandem::RowBytes(t.type, t.row_length()) * t.rows());
    Check(t.data.data() == data + f.data_offset() + t.offset);
    Check(t.data.data() + t.data.size() <= data + size);
    uint8_t x = 0;
    for (uint8_t b : t.data) x ^= b;
    sink = sink + x + t.num_elements();
  }
  return 0;
}
