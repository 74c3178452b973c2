// GgufFile::Parse on hand-built valid and malformed images: every malformation is an
// InvalidArgument naming what is wrong, never a crash or a huge allocation.
#include <cstdint>
#include <string>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/common/gguf/gguf_test_bytes.h"

namespace tandem {
namespace {

using gguf_test::GgufBytes;
using ::testing::HasSubstr;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ8_0 = 8;

// A valid v3 file: two metadata keys, two F32 tensors ([4] and [8, 2]).
GgufBytes ValidFile(uint32_t version = 3) {
  GgufBytes b;
  b.Header(version, 2, 2).KvStr("general.architecture", "llama").KvU32("llama.block_count", 1);
  b.Tensor("a", {4}, kF32, 0).Tensor("b", {8, 2}, kF32, 32).Pad();
  for (int i = 0; i < 4; ++i) b.Put(float(i));
  b.Zeros(16);
  for (int i = 0; i < 16; ++i) b.Put(float(100 + i));
  return b;
}

absl::Status ParseStatus(const GgufBytes& b) { return GgufFile::Parse(b.bytes()).status(); }

// Expects InvalidArgument whose message contains every word.
void ExpectInvalid(const GgufBytes& b, std::vector<std::string> words) {
  absl::Status st = ParseStatus(b);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  for (const std::string& w : words) EXPECT_THAT(st.message(), HasSubstr(w)) << st;
}

TEST(GgufParseTest, ValidV3AndV2) {
  for (uint32_t version : {2u, 3u}) {
    GgufBytes b = ValidFile(version);
    auto f = GgufFile::Parse(b.bytes());
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ((*f)->version(), version);
    EXPECT_EQ((*f)->file_size(), b.size());
    EXPECT_TRUE((*f)->path().empty());
    EXPECT_EQ(*(*f)->GetString("general.architecture"), "llama");
    const GgufTensorInfo* t = (*f)->FindTensor("b");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->rows(), 2);
    ASSERT_EQ(t->data.size(), 64u);
    // Zero copy: the span points into the caller's bytes.
    EXPECT_EQ(t->data.data(), b.bytes().data() + (*f)->data_offset() + 32);
    float first;
    std::memcpy(&first, t->data.data(), 4);
    EXPECT_EQ(first, 100.0f);
  }
}

TEST(GgufParseTest, EveryTruncationIsAnError) {
  GgufBytes b = ValidFile();
  // The last tensor's data ends 0 bytes before the end of this file.
  for (size_t n = 0; n < b.size(); ++n) {
    std::vector<uint8_t> prefix(b.bytes().begin(), b.bytes().begin() + n);
    auto f = GgufFile::Parse(prefix);
    ASSERT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
    EXPECT_THAT(f.status().message(), HasSubstr("truncated")) << n << ": " << f.status();
  }
}

TEST(GgufParseTest, BadMagic) {
  GgufBytes b;
  b.U32(0x46554746).U32(3).U64(0).U64(0);
  ExpectInvalid(b, {"magic"});
}

TEST(GgufParseTest, UnsupportedVersions) {
  ExpectInvalid(ValidFile(1), {"unsupported GGUF version 1"});
  ExpectInvalid(ValidFile(4), {"unsupported GGUF version 4"});
  ExpectInvalid(ValidFile(0x03000000), {"big-endian"});
}

TEST(GgufParseTest, HugeStringLength) {
  GgufBytes b;
  b.Header(3, 0, 1).U64(uint64_t{1} << 62).Zeros(16);
  ExpectInvalid(b, {"truncated", "length"});
}

TEST(GgufParseTest, HugeCountsDoNotAllocate) {
  GgufBytes arr;
  arr.Header(3, 0, 1).Str("k").U32(9).U32(4).U64(uint64_t{1} << 61).Zeros(64);
  ExpectInvalid(arr, {"array count"});
  GgufBytes strings;
  strings.Header(3, 0, 1).Str("k").U32(9).U32(8).U64(uint64_t{1} << 40).Zeros(64);
  ExpectInvalid(strings, {"array count"});
  GgufBytes kvs;
  kvs.Header(3, 0, uint64_t{1} << 60).Zeros(64);
  ExpectInvalid(kvs, {"metadata count"});
  GgufBytes tensors;
  tensors.Header(3, uint64_t{1} << 60, 0).Zeros(64);
  ExpectInvalid(tensors, {"tensor count"});
}

TEST(GgufParseTest, NestedArrayRejected) {
  GgufBytes b;
  b.Header(3, 0, 1).Str("k").U32(9).U32(9).U64(1).U32(4).U64(1).U32(7);
  ExpectInvalid(b, {"nested"});
}

TEST(GgufParseTest, UnknownValueTypes) {
  GgufBytes scalar;
  scalar.Header(3, 0, 1).Str("k").U32(13).U32(0);
  ExpectInvalid(scalar, {"unknown value type id 13", "'k'"});
  GgufBytes element;
  element.Header(3, 0, 1).Str("k").U32(9).U32(99).U64(0);
  ExpectInvalid(element, {"unknown array element type id 99"});
}

TEST(GgufParseTest, InvalidBool) {
  GgufBytes b;
  b.Header(3, 0, 1).Str("flag").U32(7).U8(2);
  ExpectInvalid(b, {"bool", "flag"});
}

TEST(GgufParseTest, DuplicateKey) {
  GgufBytes b;
  b.Header(3, 0, 2).KvU32("k", 1).KvU32("k", 2);
  ExpectInvalid(b, {"duplicate metadata key 'k'"});
}

TEST(GgufParseTest, NDimsZero) {
  GgufBytes zero;
  zero.Header(3, 1, 0).Str("t").U32(0).U32(kF32).U64(0).Pad().Zeros(32);
  ExpectInvalid(zero, {"n_dims 0", "'t'"});
}

// One bad tensor info in a file of one tensor (no metadata): refused with an error
// naming what is wrong, never a read past the data.
TEST(GgufParseTest, BadTensorInfosAreInvalid) {
  struct Case {
    std::string name;
    std::vector<int64_t> dims;
    uint32_t type;
    uint64_t offset;
    size_t data_bytes;
    std::vector<std::string> words;  // in the error message
  };
  const Case cases[] = {
      {"t", {1, 1, 1, 1, 1}, kF32, 0, 32, {"n_dims 5", "'t'"}},
      {"t", {4, -1}, kF32, 0, 32, {"dimension 1 is -1"}},
      {"t", {0}, kF32, 0, 32, {"dimension 0 is 0"}},
      {"t", {int64_t{1} << 32, int64_t{1} << 32}, kF32, 0, 32, {"overflow"}},
      {"blk.0.attn_q.weight", {32}, 4, 0, 128, {"blk.0.attn_q.weight", "unknown type id 4"}},
      {"q", {33}, kQ8_0, 0, 128, {"'q'", "block size 32"}},
      // Qwen2.5-0.5B's 896-value rows as q4_K, and 64-value rows as q6_K.
      {"blk.0.attn_q.weight", {896, 2}, 12, 0, 1024, {"'blk.0.attn_q.weight'", "block size 256"}},
      {"output.weight", {64, 4}, 14, 0, 1024, {"'output.weight'", "block size 256"}},
      {"t", {4}, kF32, 4, 64, {"misaligned", "'t'"}},
      {"blk.0.attn_q.weight",
       {64, 16},
       kF32,
       0,
       1000,
       {"truncated GGUF: tensor 'blk.0.attn_q.weight' data [offset 96, 4096 bytes)",
        "past end of file (1096 bytes)"}},
      {"t", {4}, kF32, uint64_t{1} << 63, 32, {"past end of file"}},
      {"", {4}, kF32, 0, 32, {"empty tensor name"}},
      {std::string(64, 'x'), {4}, kF32, 0, 32, {"too long"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.words.front());
    GgufBytes b;
    b.Header(3, 1, 0).Tensor(c.name, c.dims, c.type, c.offset).Pad().Zeros(c.data_bytes);
    ExpectInvalid(b, c.words);
  }
}

TEST(GgufParseTest, KnownButUnsupportedTypeIsAccepted) {
  GgufBytes b;
  b.Header(3, 1, 0).Tensor("k", {256}, 10 /* q2_K */, 0).Pad().Zeros(96);
  auto f = GgufFile::Parse(b.bytes());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->tensors()[0].type, GgmlType::kQ2_K);
  EXPECT_EQ((*f)->tensors()[0].data.size(), 84u);
}

TEST(GgufParseTest, DuplicateTensorName) {
  GgufBytes b;
  b.Header(3, 2, 0).Tensor("t", {4}, kF32, 0).Tensor("t", {4}, kF32, 32).Pad().Zeros(64);
  ExpectInvalid(b, {"duplicate tensor name 't'"});
}

TEST(GgufParseTest, OverlappingTensors) {
  GgufBytes b;
  b.Header(3, 2, 0).Tensor("a", {16}, kF32, 0).Tensor("b", {4}, kF32, 32).Pad().Zeros(96);
  ExpectInvalid(b, {"overlaps"});
}

TEST(GgufParseTest, Alignment) {
  for (uint32_t bad : {0u, 48u, 3u}) {
    GgufBytes b;
    b.Header(3, 0, 1).KvU32("general.alignment", bad);
    ExpectInvalid(b, {"alignment", "power of two"});
  }
  GgufBytes wrong_type;
  wrong_type.Header(3, 0, 1).KvStr("general.alignment", "64");
  ExpectInvalid(wrong_type, {"general.alignment", "string"});

  GgufBytes ok;
  ok.Header(3, 1, 1).KvU32("general.alignment", 64).Tensor("t", {4}, kF32, 64).Pad(64);
  ok.Zeros(80);
  auto f = GgufFile::Parse(ok.bytes());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
  GgufBytes misaligned;
  misaligned.Header(3, 1, 1).KvU32("general.alignment", 64).Tensor("t", {4}, kF32, 32);
  misaligned.Pad(64).Zeros(80);
  ExpectInvalid(misaligned, {"misaligned"});
}

TEST(GgufParseTest, MetadataOnlyFileWithoutPadding) {
  GgufBytes b;
  b.Header(3, 0, 1).KvU32("k", 7);
  auto f = GgufFile::Parse(b.bytes());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*(*f)->GetUint("k"), 7u);
  EXPECT_TRUE((*f)->tensors().empty());
}

TEST(GgufGetterTest, Conversions) {
  GgufBytes b;
  b.Header(3, 0, 7)
      .KvU32("u32", 7)
      .Str("i8neg")
      .U32(1)
      .Put(int8_t{-3})
      .Str("i64")
      .U32(11)
      .Put(int64_t{1} << 40)
      .Str("f32")
      .U32(6)
      .Put(0.5f)
      .Str("f64")
      .U32(12)
      .Put(2.25)
      .Str("flag")
      .U32(7)
      .U8(1)
      .Str("u64max")
      .U32(10)
      .Put(UINT64_MAX);
  auto f = GgufFile::Parse(b.bytes());
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(*g.GetUint("u32"), 7u);
  EXPECT_EQ(*g.GetUint("i64"), uint64_t{1} << 40);
  EXPECT_EQ(*g.GetUint("u64max"), UINT64_MAX);
  auto neg = g.GetUint("i8neg");
  EXPECT_EQ(neg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(neg.status().message(), HasSubstr("i8neg"));
  EXPECT_THAT(neg.status().message(), HasSubstr("int8"));
  EXPECT_EQ(*g.GetFloat("i8neg"), -3.0);
  EXPECT_EQ(*g.GetFloat("f32"), 0.5);
  EXPECT_EQ(*g.GetFloat("f64"), 2.25);
  EXPECT_EQ(*g.GetFloat("u32"), 7.0);
  EXPECT_EQ(g.GetUint("f32").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*g.GetBool("flag"), true);
  EXPECT_EQ(g.GetUint("flag").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g.GetFloat("flag").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g.GetBool("u32").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g.GetString("missing").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tandem
