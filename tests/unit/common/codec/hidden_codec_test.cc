// Properties every codec shares: sizes, shape checks, malformed payloads, error messages,
// and each codec's accuracy class on Gaussian rows.
#include "common/codec/hidden_codec.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/util/fp16.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

using ::testing::HasSubstr;

std::vector<float> Gaussian(int32_t n, int32_t dim, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n) * dim);
  for (float& x : v) x = dist(rng);
  return v;
}

double Nmse(absl::Span<const float> ref, absl::Span<const float> got) {
  double err = 0, sig = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    err += (double{got[i]} - ref[i]) * (double{got[i]} - ref[i]);
    sig += double{ref[i]} * ref[i];
  }
  return err / sig;
}

class HiddenCodecTest : public ::testing::TestWithParam<CodecKind> {
 protected:
  const HiddenCodec& codec() const { return GetHiddenCodec(GetParam()); }
};

INSTANTIATE_TEST_SUITE_P(AllCodecs, HiddenCodecTest, ::testing::ValuesIn(kAllCodecKinds),
                         [](const auto& info) { return std::string(CodecKindName(info.param)); });

TEST_P(HiddenCodecTest, KindMatchesRegistry) { EXPECT_EQ(codec().kind(), GetParam()); }

TEST_P(HiddenCodecTest, EncodedSizeMatchesActualSize) {
  for (auto [n, dim] : {std::pair{0, 64}, {1, 32}, {3, 64}, {2, 96}, {5, 2048}}) {
    const std::vector<float> hidden = Gaussian(n, dim, 11);
    std::string payload;
    ASSERT_TRUE(codec().Encode(hidden, n, dim, &payload).ok());
    EXPECT_EQ(payload.size(), codec().EncodedSize(n, dim)) << n << "x" << dim;
    EXPECT_EQ(payload.size(), EncodedSize(GetParam(), n, dim));
    EXPECT_EQ(payload.size(), n * codec().RowBytes(dim));
    std::vector<float> out(hidden.size());
    EXPECT_TRUE(codec().Decode(payload, n, dim, absl::MakeSpan(out)).ok());
  }
}

TEST_P(HiddenCodecTest, EncodeReplacesOutputAndIsDeterministic) {
  const std::vector<float> hidden = Gaussian(4, 128, 12);
  std::string a = "stale bytes", b;
  ASSERT_TRUE(EncodeHidden(GetParam(), hidden, 4, 128, &a).ok());
  ASSERT_TRUE(EncodeHidden(GetParam(), hidden, 4, 128, &b).ok());
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), EncodedSize(GetParam(), 4, 128));
}

TEST_P(HiddenCodecTest, RejectsPayloadOfWrongSize) {
  const std::vector<float> hidden = Gaussian(3, 64, 13);
  std::string payload;
  ASSERT_TRUE(codec().Encode(hidden, 3, 64, &payload).ok());
  std::vector<float> out(hidden.size());
  for (std::string bad : {payload.substr(0, payload.size() - 1), payload + "x", std::string()}) {
    const absl::Status st = codec().Decode(bad, 3, 64, absl::MakeSpan(out));
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad.size();
    EXPECT_THAT(st.message(), HasSubstr(absl::StrCat("expected ", payload.size())));
  }
  // The right size for another shape is still wrong for this one.
  EXPECT_EQ(codec().Decode(payload, 2, 64, absl::MakeSpan(out).subspan(0, 128)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(HiddenCodecTest, RejectsBadShapes) {
  std::vector<float> hidden = Gaussian(2, 64, 14);
  std::string payload;
  EXPECT_EQ(codec().Encode(hidden, 3, 64, &payload).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(codec().Encode(hidden, -1, 64, &payload).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(codec().Encode({}, 0, 0, &payload).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(codec().ValidateDim(-32).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(codec().Encode(hidden, 2, 64, &payload).ok());
  std::vector<float> small(100);
  EXPECT_EQ(codec().Decode(payload, 2, 64, absl::MakeSpan(small)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(HiddenCodecTest, EmptyChunkIsEmptyPayload) {
  std::string payload = "x";
  ASSERT_TRUE(codec().Encode({}, 0, 64, &payload).ok());
  EXPECT_TRUE(payload.empty());
  EXPECT_TRUE(codec().Decode("", 0, 64, {}).ok());
}

TEST_P(HiddenCodecTest, RejectsNonFiniteInputNamingRowAndChannel) {
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    std::vector<float> hidden = Gaussian(3, 64, 15);
    hidden[2 * 64 + 7] = bad;
    std::string payload;
    const absl::Status st = codec().Encode(hidden, 3, 64, &payload);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(st.message(), HasSubstr("row 2, channel 7"));
  }
}

TEST_P(HiddenCodecTest, AccuracyOnGaussianRows) {
  const int32_t n = 16, dim = 512;
  const std::vector<float> hidden = Gaussian(n, dim, 16, 3.0f);
  std::string payload;
  ASSERT_TRUE(codec().Encode(hidden, n, dim, &payload).ok());
  std::vector<float> out(hidden.size());
  ASSERT_TRUE(codec().Decode(payload, n, dim, absl::MakeSpan(out)).ok());
  const double nmse = Nmse(hidden, out);
  switch (GetParam()) {
    case CodecKind::kF32:
      EXPECT_EQ(nmse, 0.0);
      break;
    case CodecKind::kF16:
      EXPECT_LT(nmse, 1e-6);  // 11-bit mantissa: ~(2^-11)^2 / 3
      break;
    case CodecKind::kQ8:
      EXPECT_LT(nmse, 1e-4);
      break;
    case CodecKind::kQ4:
      EXPECT_LT(nmse, 5e-3);  // measured 2.3e-3
      break;
  }
}

TEST(HiddenCodecSizesTest, BytesPerToken) {
  // Pinned: the proto's documentation and the chunking limits depend on these.
  EXPECT_EQ(EncodedSize(CodecKind::kF32, 1, 2048), 8192u);
  EXPECT_EQ(EncodedSize(CodecKind::kF16, 1, 2048), 4096u);
  EXPECT_EQ(EncodedSize(CodecKind::kQ8, 1, 2048), 2176u);  // 64 blocks * 34
  EXPECT_EQ(EncodedSize(CodecKind::kQ4, 1, 2048), 1408u);  // 32 outliers * 4 + 32 * 40
  EXPECT_EQ(EncodedSize(CodecKind::kF32, 1, 64), 256u);
  EXPECT_EQ(EncodedSize(CodecKind::kF16, 1, 64), 128u);
  EXPECT_EQ(EncodedSize(CodecKind::kQ8, 1, 64), 68u);
  EXPECT_EQ(EncodedSize(CodecKind::kQ4, 1, 64), 44u);  // 1 outlier * 4 + 40
  EXPECT_EQ(EncodedSize(CodecKind::kQ4, 1, 32), 25u);  // at least one outlier; a half block
  EXPECT_EQ(EncodedSize(CodecKind::kQ8, 7, 4096), 7u * 128 * 34);
}

TEST(F32CodecTest, RoundTripIsBitExact) {
  std::vector<float> hidden = Gaussian(3, 64, 17, 100.0f);
  hidden[0] = -0.0f;
  hidden[1] = 1e-42f;  // subnormal
  hidden[2] = 3.4e38f;
  std::string payload;
  ASSERT_TRUE(EncodeHidden(CodecKind::kF32, hidden, 3, 64, &payload).ok());
  ASSERT_EQ(payload.size(), hidden.size() * 4);
  EXPECT_EQ(std::memcmp(payload.data(), hidden.data(), payload.size()), 0);  // LE floats
  std::vector<float> out(hidden.size());
  ASSERT_TRUE(DecodeHidden(CodecKind::kF32, payload, 3, 64, absl::MakeSpan(out)).ok());
  for (size_t i = 0; i < hidden.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(hidden[i])) << i;
  }
}

TEST(F32CodecTest, RejectsNonFinitePayloadValues) {
  std::vector<float> hidden = Gaussian(2, 32, 18);
  std::string payload;
  ASSERT_TRUE(EncodeHidden(CodecKind::kF32, hidden, 2, 32, &payload).ok());
  const float nan = NAN;
  std::memcpy(payload.data() + 4 * (32 + 5), &nan, 4);
  std::vector<float> out(hidden.size());
  const absl::Status st = DecodeHidden(CodecKind::kF32, payload, 2, 32, absl::MakeSpan(out));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("row 1, channel 5"));
}

TEST(F16CodecTest, RoundTripWithinHalfPrecision) {
  std::vector<float> hidden = Gaussian(4, 256, 19, 50.0f);
  hidden[3] = 65504.0f;
  hidden[4] = -1e-6f;  // subnormal half
  std::string payload;
  ASSERT_TRUE(EncodeHidden(CodecKind::kF16, hidden, 4, 256, &payload).ok());
  std::vector<float> out(hidden.size());
  ASSERT_TRUE(DecodeHidden(CodecKind::kF16, payload, 4, 256, absl::MakeSpan(out)).ok());
  for (size_t i = 0; i < hidden.size(); ++i) {
    // Exactly the round-to-nearest-even half, so within half an ulp: 2^-11 relative for
    // normals, 2^-25 absolute for subnormals.
    ASSERT_EQ(out[i], half::ToFloat(half::FromFloat(hidden[i]))) << i;
    ASSERT_LE(std::fabs(out[i] - hidden[i]), std::max(std::fabs(hidden[i]) * 0x1p-11f, 0x1p-25f))
        << i;
  }
}

TEST(F16CodecTest, RejectsValuesBeyondHalfRange) {
  std::vector<float> hidden = Gaussian(2, 64, 20);
  hidden[64 + 9] = -70000.0f;
  std::string payload;
  const absl::Status st = EncodeHidden(CodecKind::kF16, hidden, 2, 64, &payload);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("row 1, channel 9"));
}

TEST(F16CodecTest, RejectsInfAndNanHalves) {
  for (uint16_t bad : {uint16_t{0x7c00}, uint16_t{0xfc00}, uint16_t{0x7e01}}) {
    std::string payload(2 * 64, '\0');
    std::memcpy(payload.data() + 2 * (32 + 3), &bad, 2);
    std::vector<float> out(64);
    const absl::Status st = DecodeHidden(CodecKind::kF16, payload, 2, 32, absl::MakeSpan(out));
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(st.message(), HasSubstr("row 1, channel 3"));
  }
}

}  // namespace
}  // namespace tandem
