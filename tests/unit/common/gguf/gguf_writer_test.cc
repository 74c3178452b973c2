// GgufWriter: round trips of every value and tensor type through GgufFile, the real model
// rewritten byte for byte, validation, atomic replacement and progress reporting.
#include "common/gguf/gguf_writer.h"

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/gguf/gguf_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class GgufWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gguf_writer_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Deterministic bytes for a tensor: a simple LCG.
GgufWriter::TensorFiller Pattern(uint32_t seed, std::vector<uint8_t>* copy = nullptr) {
  return [seed, copy](std::vector<uint8_t>& out) {
    uint32_t x = seed;
    for (uint8_t& b : out) {
      x = x * 1664525u + 1013904223u;
      b = static_cast<uint8_t>(x >> 24);
    }
    if (copy != nullptr) *copy = out;
    return absl::OkStatus();
  };
}

GgufValue Scalar(GgufValueType t, auto v) { return GgufValue{t, v}; }
GgufValue IntArray(GgufValueType t, std::vector<int64_t> v) {
  return GgufValue{GgufValueType::kArray, GgufArray{t, std::move(v), {}, {}}};
}

void ExpectSameValue(const GgufValue& a, const GgufValue& b, const std::string& key) {
  ASSERT_EQ(a.type, b.type) << key;
  ASSERT_EQ(a.value.index(), b.value.index()) << key;
  if (const auto* arr = std::get_if<GgufArray>(&a.value)) {
    const auto& other = std::get<GgufArray>(b.value);
    EXPECT_EQ(arr->element_type, other.element_type) << key;
    EXPECT_EQ(arr->ints, other.ints) << key;
    EXPECT_EQ(arr->strings, other.strings) << key;
    ASSERT_EQ(arr->floats.size(), other.floats.size()) << key;
    for (size_t i = 0; i < arr->floats.size(); ++i) {
      // Bitwise: NaN and -0.0 must survive too.
      EXPECT_EQ(std::memcmp(&arr->floats[i], &other.floats[i], sizeof(double)), 0) << key;
    }
  } else if (const auto* d = std::get_if<double>(&a.value)) {
    EXPECT_EQ(std::memcmp(d, &std::get<double>(b.value), sizeof(double)), 0) << key;
  } else {
    EXPECT_TRUE(a.value == b.value) << key;
  }
}

TEST_F(GgufWriterTest, RoundTripsEveryValueAndTensorType) {
  std::vector<std::pair<std::string, GgufValue>> values = {
      {"u8", Scalar(GgufValueType::kUint8, uint64_t{255})},
      {"i8", Scalar(GgufValueType::kInt8, int64_t{-128})},
      {"u16", Scalar(GgufValueType::kUint16, uint64_t{65535})},
      {"i16", Scalar(GgufValueType::kInt16, int64_t{-32768})},
      {"u32", Scalar(GgufValueType::kUint32, uint64_t{4294967295u})},
      {"i32", Scalar(GgufValueType::kInt32, int64_t{INT32_MIN})},
      {"f32", Scalar(GgufValueType::kFloat32, double{-0.0f})},
      {"bool", Scalar(GgufValueType::kBool, true)},
      {"str", GgufValue{GgufValueType::kString, std::string("a\0b\xff", 4)}},
      {"u64", Scalar(GgufValueType::kUint64, UINT64_MAX)},
      {"i64", Scalar(GgufValueType::kInt64, INT64_MIN)},
      {"f64", Scalar(GgufValueType::kFloat64, 1e300)},
      {"f64nan", Scalar(GgufValueType::kFloat64, std::numeric_limits<double>::quiet_NaN())},
      {"arr.u8", IntArray(GgufValueType::kUint8, {0, 1, 255})},
      {"arr.i8", IntArray(GgufValueType::kInt8, {-128, 0, 127})},
      {"arr.u16", IntArray(GgufValueType::kUint16, {0, 65535})},
      {"arr.i16", IntArray(GgufValueType::kInt16, {-32768, 32767})},
      {"arr.u32", IntArray(GgufValueType::kUint32, {0, 4294967295})},
      {"arr.i32", IntArray(GgufValueType::kInt32, {INT32_MIN, INT32_MAX})},
      {"arr.u64", IntArray(GgufValueType::kUint64, {0, -1 /* UINT64_MAX bits */})},
      {"arr.i64", IntArray(GgufValueType::kInt64, {INT64_MIN, INT64_MAX})},
      {"arr.bool", IntArray(GgufValueType::kBool, {1, 0, 1})},
      {"arr.empty", IntArray(GgufValueType::kInt32, {})},
      {"arr.f32",
       GgufValue{GgufValueType::kArray,
                 GgufArray{GgufValueType::kFloat32, {}, {1.5, -2.0, double{1e-30f}}, {}}}},
      {"arr.f64",
       GgufValue{GgufValueType::kArray, GgufArray{GgufValueType::kFloat64, {}, {1e-300}, {}}}},
      {"arr.str", GgufValue{GgufValueType::kArray,
                            GgufArray{GgufValueType::kString, {}, {}, {"", "x", "<s>"}}}},
  };
  GgufWriter w;
  for (const auto& [k, v] : values) w.SetValue(k, v);

  struct T {
    std::string name;
    std::vector<int64_t> shape;
    GgmlType type;
    std::vector<uint8_t> bytes;
  };
  std::vector<T> tensors = {
      {"f32", {3}, GgmlType::kF32, {}},          {"f16", {5, 3}, GgmlType::kF16, {}},
      {"q8_0", {64, 2, 3}, GgmlType::kQ8_0, {}}, {"q4_0", {32, 1, 2, 2}, GgmlType::kQ4_0, {}},
      {"q4_K", {256, 2}, GgmlType::kQ4_K, {}},   {"bf16", {7}, GgmlType::kBF16, {}},
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    w.AddTensor(tensors[i].name, tensors[i].shape, tensors[i].type,
                Pattern(static_cast<uint32_t>(i + 1), &tensors[i].bytes));
  }
  const std::string path = Path("all.gguf");
  ASSERT_TRUE(w.Write(path).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ((*f)->alignment(), 32u);
  EXPECT_EQ((*f)->file_size(), fs::file_size(path));
  ASSERT_EQ((*f)->metadata().size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ((*f)->metadata()[i].first, values[i].first);
    ExpectSameValue((*f)->metadata()[i].second, values[i].second, values[i].first);
  }
  ASSERT_EQ((*f)->tensors().size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const GgufTensorInfo& t = (*f)->tensors()[i];
    EXPECT_EQ(t.name, tensors[i].name);
    EXPECT_EQ(t.shape, tensors[i].shape);
    EXPECT_EQ(t.type, tensors[i].type);
    EXPECT_EQ(t.offset % 32, 0u);
    EXPECT_EQ(t.data.size(), RowBytes(t.type, t.row_length()) * t.rows());
    EXPECT_EQ(std::vector<uint8_t>(t.data.begin(), t.data.end()), tensors[i].bytes) << t.name;
  }
  // Data is padded after every tensor, including the last one (as llama.cpp writes it).
  EXPECT_EQ((*f)->file_size() % 32, 0u);
}

TEST_F(GgufWriterTest, RewritesRealModelByteForByte) {
  auto in = GgufFile::Open(TANDEM_TEST_MODEL);
  ASSERT_TRUE(in.ok()) << in.status();
  GgufWriter w;
  for (const auto& [k, v] : (*in)->metadata()) w.SetValue(k, v);
  for (const GgufTensorInfo& t : (*in)->tensors()) {
    w.AddTensor(t.name, t.shape, t.type, [&t](std::vector<uint8_t>& out) {
      std::memcpy(out.data(), t.data.data(), t.data.size());
      return absl::OkStatus();
    });
  }
  const std::string path = Path("copy.gguf");
  ASSERT_TRUE(w.Write(path).ok());
  EXPECT_TRUE(ReadAll(path) == ReadAll(TANDEM_TEST_MODEL));

  auto out = GgufFile::Open(path);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ((*out)->metadata().size(), 19u);
  for (size_t i = 0; i < (*in)->metadata().size(); ++i) {
    EXPECT_EQ((*out)->metadata()[i].first, (*in)->metadata()[i].first);
    ExpectSameValue((*out)->metadata()[i].second, (*in)->metadata()[i].second,
                    (*in)->metadata()[i].first);
  }
  ASSERT_EQ((*out)->tensors().size(), 48u);
  for (size_t i = 0; i < 48; ++i) {
    const GgufTensorInfo& a = (*in)->tensors()[i];
    const GgufTensorInfo& b = (*out)->tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape);
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.offset, b.offset);
    EXPECT_TRUE(std::equal(a.data.begin(), a.data.end(), b.data.begin(), b.data.end()));
  }
}

TEST_F(GgufWriterTest, SettersReplaceInPlaceAndUseLlamaCppTypes) {
  GgufWriter w;
  w.SetString("general.name", "x");
  w.SetUint32("general.file_type", 0);
  w.SetFloat32("eps", 1e-5f);
  w.SetBool("flag", false);
  w.SetStringArray("tokens", {"a", "b"});
  w.SetFloat32Array("scores", {0.25f, -1.0f});
  w.SetInt32Array("types", {1, 2, -3});
  w.SetUint32("general.file_type", 7);  // replaces, keeps position
  const std::string path = Path("setters.gguf");
  ASSERT_TRUE(w.Write(path).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  const auto& md = (*f)->metadata();
  ASSERT_EQ(md.size(), 7u);
  EXPECT_EQ(md[1].first, "general.file_type");
  EXPECT_EQ(md[1].second.type, GgufValueType::kUint32);
  EXPECT_EQ(*(*f)->GetUint("general.file_type"), 7u);
  EXPECT_EQ((*f)->Find("eps")->type, GgufValueType::kFloat32);
  EXPECT_EQ(*(*f)->GetFloat("eps"), double{1e-5f});
  EXPECT_EQ(*(*f)->GetBool("flag"), false);
  EXPECT_THAT((*(*f)->GetArray("tokens"))->strings, ElementsAre("a", "b"));
  EXPECT_THAT((*(*f)->GetArray("scores"))->floats, ElementsAre(0.25, -1.0));
  EXPECT_EQ((*(*f)->GetArray("types"))->element_type, GgufValueType::kInt32);
  EXPECT_THAT((*(*f)->GetArray("types"))->ints, ElementsAre(1, 2, -3));
  EXPECT_TRUE((*f)->tensors().empty());
}

TEST_F(GgufWriterTest, HonoursGeneralAlignment) {
  GgufWriter w;
  w.SetValue("general.alignment", GgufValue{GgufValueType::kUint32, uint64_t{128}});
  w.AddTensor("a", {3}, GgmlType::kF32, Pattern(1));
  w.AddTensor("b", {32}, GgmlType::kQ8_0, Pattern(2));
  const std::string path = Path("aligned.gguf");
  ASSERT_TRUE(w.Write(path).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 128u);
  EXPECT_EQ((*f)->data_offset() % 128, 0u);
  EXPECT_EQ((*f)->tensors()[1].offset, 128u);
}

TEST_F(GgufWriterTest, ReportsProgressPerTensor) {
  GgufWriter w;
  for (int i = 0; i < 3; ++i) w.AddTensor(absl::StrCat("t", i), {4}, GgmlType::kF32, Pattern(i));
  std::vector<std::pair<size_t, size_t>> calls;
  ASSERT_TRUE(w.Write(Path("p.gguf"), [&](size_t i, size_t n) { calls.emplace_back(i, n); }).ok());
  EXPECT_THAT(calls, ElementsAre(std::pair<size_t, size_t>{1, 3}, std::pair<size_t, size_t>{2, 3},
                                 std::pair<size_t, size_t>{3, 3}));
}

absl::Status WriteOne(const std::string& path, std::vector<int64_t> shape, GgmlType type,
                      const std::string& name = "t") {
  GgufWriter w;
  w.AddTensor(name, std::move(shape), type, Pattern(1));
  return w.Write(path);
}

TEST_F(GgufWriterTest, RejectsBadTensors) {
  const std::string path = Path("bad.gguf");
  absl::Status row = WriteOne(path, {33, 2}, GgmlType::kQ8_0);
  EXPECT_EQ(row.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(row.message(), HasSubstr("block size 32"));
  EXPECT_THAT(WriteOne(path, {}, GgmlType::kF32).message(), HasSubstr("dimensions"));
  EXPECT_THAT(WriteOne(path, {1, 1, 1, 1, 1}, GgmlType::kF32).message(), HasSubstr("dimensions"));
  EXPECT_THAT(WriteOne(path, {4, 0}, GgmlType::kF32).message(), HasSubstr("dimension 0"));
  EXPECT_THAT(WriteOne(path, {4}, static_cast<GgmlType>(5)).message(),
              HasSubstr("unknown type id 5"));
  EXPECT_THAT(WriteOne(path, {4}, GgmlType::kF32, std::string(64, 'n')).message(),
              HasSubstr("longer than 63"));
  GgufWriter dup;
  dup.AddTensor("t", {4}, GgmlType::kF32, Pattern(1));
  dup.AddTensor("t", {4}, GgmlType::kF32, Pattern(2));
  EXPECT_THAT(dup.Write(path).message(), HasSubstr("duplicate tensor name 't'"));
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST_F(GgufWriterTest, RejectsBadValues) {
  const std::string path = Path("bad.gguf");
  auto status_of = [&](GgufValue v) {
    GgufWriter w;
    w.SetValue("key", std::move(v));
    return w.Write(path);
  };
  absl::Status range = status_of(Scalar(GgufValueType::kUint8, uint64_t{256}));
  EXPECT_EQ(range.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(range.message(), HasSubstr("'key'"));
  EXPECT_THAT(range.message(), HasSubstr("does not fit in uint8"));
  EXPECT_FALSE(status_of(IntArray(GgufValueType::kInt8, {128})).ok());
  EXPECT_FALSE(status_of(IntArray(GgufValueType::kBool, {2})).ok());
  EXPECT_FALSE(status_of(Scalar(GgufValueType::kUint32, std::string("x"))).ok());
  EXPECT_THAT(status_of(IntArray(GgufValueType::kArray, {})).message(), HasSubstr("nested"));
  EXPECT_THAT(
      status_of(GgufValue{GgufValueType::kArray, GgufArray{GgufValueType::kString, {1, 2}, {}, {}}})
          .message(),
      HasSubstr("another element type"));
  for (uint64_t a : {uint64_t{0}, uint64_t{48}}) {
    GgufWriter w;
    w.SetValue("general.alignment", Scalar(GgufValueType::kUint32, a));
    EXPECT_THAT(w.Write(path).message(), HasSubstr("power of two"));
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(GgufWriterTest, FailedWriteKeepsExistingFile) {
  const std::string path = Path("model.gguf");
  { std::ofstream(path) << "previous"; }
  GgufWriter w;
  w.AddTensor("ok", {4}, GgmlType::kF32, Pattern(1));
  w.AddTensor("fails", {4}, GgmlType::kF32,
              [](std::vector<uint8_t>&) { return absl::DataLossError("source unreadable"); });
  absl::Status st = w.Write(path);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("'fails'"));
  EXPECT_THAT(st.message(), HasSubstr("source unreadable"));
  std::vector<uint8_t> kept = ReadAll(path);
  EXPECT_EQ(std::string(kept.begin(), kept.end()), "previous");
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  GgufWriter resize;
  resize.AddTensor("r", {4}, GgmlType::kF32, [](std::vector<uint8_t>& out) {
    out.resize(3);
    return absl::OkStatus();
  });
  EXPECT_THAT(resize.Write(path).message(), HasSubstr("resized"));
}

TEST_F(GgufWriterTest, DoesNotRemoveATemporaryNameItCouldNotCreate) {
  const std::string path = Path("model.gguf");
  fs::create_directories(path + ".tmp/keep");  // occupies the temporary file's name
  GgufWriter w;
  EXPECT_FALSE(w.Write(path).ok());
  EXPECT_TRUE(fs::exists(path + ".tmp/keep"));
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(GgufWriterTest, UnwritableDirectory) {
  GgufWriter w;
  absl::Status st = w.Write(Path("missing/dir/x.gguf"));
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("missing/dir/x.gguf.tmp"));
}

}  // namespace
}  // namespace tandem
