#include "common/codec/codec_kind.h"

#include "gtest/gtest.h"

namespace tandem {
namespace {

TEST(CodecKindTest, NamesRoundTrip) {
  EXPECT_EQ(CodecKindName(CodecKind::kF32), "f32");
  EXPECT_EQ(CodecKindName(CodecKind::kF16), "f16");
  EXPECT_EQ(CodecKindName(CodecKind::kQ8), "q8");
  EXPECT_EQ(CodecKindName(CodecKind::kQ4), "q4");
  for (CodecKind kind : kAllCodecKinds) {
    absl::StatusOr<CodecKind> parsed = ParseCodecKind(CodecKindName(kind));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kind);
  }
}

TEST(CodecKindTest, RejectsUnknownNames) {
  for (std::string_view bad : {"", "F32", "q4_0", "fp16", "q8 "}) {
    absl::StatusOr<CodecKind> parsed = ParseCodecKind(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseCodecKind("int4").status().message().find("expected f32, f16, q8 or q4"),
            std::string_view::npos);
}

}  // namespace
}  // namespace tandem
