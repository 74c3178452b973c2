#include "common/codec/q4_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/codec/q4_tables.h"
#include "common/codec/wire_blocks.h"
#include "common/util/fp16.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

using ::testing::HasSubstr;

// Rows like LLaMA hidden states: heavy-tailed values plus a few "massive activation"
// channels ~1000x the rest.
constexpr int32_t kMassive[] = {17, 555, 1030, 2000};

std::vector<float> MassiveActivationRows(int32_t n, int32_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> body(5.0f);
  std::normal_distribution<float> jitter(1.0f, 0.1f);
  std::vector<float> x(static_cast<size_t>(n) * dim);
  for (float& v : x) v = body(rng);
  for (int32_t r = 0; r < n; ++r) {
    for (int32_t c : kMassive) x[r * dim + c] = (c % 2 ? 1000.0f : -1000.0f) * jitter(rng);
  }
  return x;
}

// Gaussian rows whose channels have different, fixed scales (log-normal), as hidden
// states do.
std::vector<float> UnevenGaussianRows(int32_t n, int32_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss;
  std::vector<float> scale(dim);
  for (float& s : scale) s = std::exp(0.4f * gauss(rng));
  std::vector<float> x(static_cast<size_t>(n) * dim);
  for (size_t i = 0; i < x.size(); ++i) x[i] = scale[i % dim] * gauss(rng);
  return x;
}

// One block of a payload, parsed: d, the 3-bit scale code and the level code of each value.
struct ParsedBlock {
  float d = 0;
  uint16_t d_bits = 0;
  std::vector<int> c;  // [values / 4]
  std::vector<int> q;  // [values]
};

size_t BlocksOffset(const Q4Codec& codec, int32_t dim, int32_t row) {
  return row * codec.RowBytes(dim) + codec.OutlierCount(dim) * sizeof(WireQ4Outlier);
}

ParsedBlock ParseBlock(const std::string& payload, const Q4Codec& codec, int32_t dim, int32_t row,
                       int32_t b) {
  const char* at = payload.data() + BlocksOffset(codec, dim, row) + b * sizeof(WireQ4Block);
  const bool half_block = (b + 1) * kQ4SuperBlock > dim;
  const int values = half_block ? kQ4SuperBlock / 2 : kQ4SuperBlock;
  const int scale_bytes = values / kQ4SubBlock * 3 / 8;
  ParsedBlock out;
  std::memcpy(&out.d_bits, at, 2);
  out.d = half::ToFloat(out.d_bits);
  uint64_t bits = 0;
  for (int i = 0; i < scale_bytes; ++i) bits |= uint64_t{static_cast<uint8_t>(at[2 + i])} << 8 * i;
  for (int j = 0; j < values / kQ4SubBlock; ++j) out.c.push_back((bits >> 3 * j) & 7);
  for (int i = 0; i < values; ++i) {
    out.q.push_back((static_cast<uint8_t>(at[2 + scale_bytes + i / 2]) >> 4 * (i % 2)) & 15);
  }
  return out;
}

std::vector<WireQ4Outlier> OutliersOfRow(const std::string& payload, const Q4Codec& codec,
                                         int32_t dim, int32_t row) {
  std::vector<WireQ4Outlier> out(codec.OutlierCount(dim));
  std::memcpy(out.data(), payload.data() + row * codec.RowBytes(dim),
              out.size() * sizeof(WireQ4Outlier));
  return out;
}

// The documented worst case of the c = 0 fallback, in units of d: half the widest gap
// between levels (0 included, no level there), or the clip of the largest |x|, which is at
// most d / (0.917 (1 - 2^-11)) since d >= f16(0.917 amax).
float WorstCaseStep() {
  float worst = kQ4LevelMagnitude[0];  // from 0 to the smallest level
  for (int i = 0; i + 1 < 8; ++i) {
    worst = std::max(worst, (kQ4LevelMagnitude[i + 1] - kQ4LevelMagnitude[i]) / 2);
  }
  return std::max(worst, 1.0f / (0.917f * (1.0f - 0x1p-11f)) - 1.0f);
}

// `x` [n, dim] encoded with `codec`, and decoded again (NaN where the decoder wrote
// nothing); a failed encode or decode fails the test.
struct Coded {
  std::string payload;
  std::vector<float> decoded;
};
Coded RoundTrip(const Q4Codec& codec, const std::vector<float>& x, int32_t n, int32_t dim) {
  Coded c;
  c.decoded.assign(x.size(), std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(codec.Encode(x, n, dim, &c.payload).ok());
  EXPECT_TRUE(codec.Decode(c.payload, n, dim, absl::MakeSpan(c.decoded)).ok());
  return c;
}

TEST(Q4CodecTest, SizesAndOutlierCount) {
  const Q4Codec q4;
  EXPECT_EQ(q4.OutlierCount(32), 1);
  EXPECT_EQ(q4.OutlierCount(64), 1);
  EXPECT_EQ(q4.OutlierCount(2048), 32);
  EXPECT_EQ(Q4Codec(0).OutlierCount(4096), 0);
  EXPECT_EQ(q4.RowBytes(64), 4u + 40u);
  EXPECT_EQ(q4.RowBytes(96), 4u + 40u + 21u);  // a 32-value half block ends the row
  EXPECT_EQ(q4.RowBytes(32), 4u + 21u);
  // 5.5 bits per value at the protocol's setting when 64 divides dim.
  EXPECT_EQ(q4.RowBytes(4096) * 8, 11u * 4096 / 2);
  EXPECT_EQ(Q4Codec(0).RowBytes(4096) * 8, 5u * 4096);
}

TEST(Q4CodecTest, LevelTables) {
  for (int q = 0; q < 16; ++q) EXPECT_EQ(kQ4Level[q], -kQ4Level[15 - q]) << q;
  for (int q = 0; q + 1 < 16; ++q) EXPECT_LT(kQ4Level[q], kQ4Level[q + 1]) << q;
  EXPECT_EQ(kQ4Level[15], 1.0f);
  for (int c = 0; c < 8; ++c) {
    EXPECT_NEAR(kQ4SubScale[c], std::exp2(-c / 6.0), 5e-5) << c;
  }
}

// Every value exactly representable (d = 1, sub-block j at c = j % 8): the encoder finds
// the exact encoding, and the bytes are where the format says.
TEST(Q4CodecTest, KnownRowLayout) {
  constexpr int32_t kDim = 64;
  std::vector<float> x(kDim);
  std::vector<int> want_q(kDim);
  for (int i = 0; i < kDim; ++i) {
    want_q[i] = (5 * i + 3) % 16;
    x[i] = (1.0f * kQ4SubScale[(i / 4) % 8]) * kQ4Level[want_q[i]];
  }
  x[0] = -1.0f;  // the block's largest magnitude: d = 1
  want_q[0] = 0;
  x[41] = 100.0f;  // the outlier; the rest of its sub-block is zero
  x[40] = x[42] = x[43] = 0.0f;
  const Q4Codec q4;
  std::string payload;
  ASSERT_TRUE(q4.Encode(x, 1, kDim, &payload).ok());
  ASSERT_EQ(payload.size(), 44u);
  const WireQ4Outlier o = OutliersOfRow(payload, q4, kDim, 0)[0];
  EXPECT_EQ(o.channel, 41);
  EXPECT_EQ(o.value, 0x5640);  // 100.0
  const ParsedBlock block = ParseBlock(payload, q4, kDim, 0, 0);
  EXPECT_EQ(block.d_bits, 0x3c00);  // 1.0
  for (int j = 0; j < 16; ++j) {
    if (j == 10) {
      EXPECT_EQ(block.c[j], 7);  // zeros: the smallest scale leaves the least error
      continue;
    }
    EXPECT_EQ(block.c[j], j % 8) << j;
    for (int i = 4 * j; i < 4 * j + 4; ++i) EXPECT_EQ(block.q[i], want_q[i]) << i;
  }
  EXPECT_EQ(block.q[40], 8);  // +0 takes the smallest positive level
  // Low nibble first: value 0 in the low nibble of the first code byte.
  EXPECT_EQ(static_cast<uint8_t>(payload[4 + 2 + 6]), want_q[0] | (want_q[1] << 4));

  std::vector<float> y(kDim);
  ASSERT_TRUE(q4.Decode(payload, 1, kDim, absl::MakeSpan(y)).ok());
  for (int i = 0; i < kDim; ++i) {
    if (i / 4 == 10) continue;
    EXPECT_EQ(y[i], x[i]) << i;
  }
  EXPECT_EQ(y[41], 100.0f);
  EXPECT_EQ(y[40], (1.0f * kQ4SubScale[7]) * kQ4LevelMagnitude[0]);
}

TEST(Q4CodecTest, ErrorBoundsAndOutlierPrecision) {
  const int32_t n = 6, dim = 2048;
  const std::vector<float> x = MassiveActivationRows(n, dim, 31);
  const Q4Codec q4;
  const Coded coded = RoundTrip(q4, x, n, dim);
  const std::string& payload = coded.payload;
  const std::vector<float>& y = coded.decoded;
  const float step = WorstCaseStep();
  for (int32_t r = 0; r < n; ++r) {
    const float* xr = &x[r * dim];
    const float* yr = &y[r * dim];
    // The outliers are exactly the 32 largest-|x| channels, increasing, at f16.
    std::vector<int32_t> order(dim);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int32_t a, int32_t b) { return std::fabs(xr[a]) > std::fabs(xr[b]); });
    const std::vector<WireQ4Outlier> outliers = OutliersOfRow(payload, q4, dim, r);
    ASSERT_EQ(outliers.size(), 32u);
    std::vector<bool> is_outlier(dim);
    for (size_t i = 0; i < outliers.size(); ++i) {
      if (i > 0) {
        ASSERT_LT(outliers[i - 1].channel, outliers[i].channel);
      }
      is_outlier[outliers[i].channel] = true;
    }
    for (int i = 0; i < 32; ++i) ASSERT_TRUE(is_outlier[order[i]]) << "row " << r << " " << i;
    for (int32_t c : kMassive) ASSERT_TRUE(is_outlier[c]);
    for (int32_t c = 0; c < dim; ++c) {
      if (is_outlier[c]) {
        ASSERT_EQ(yr[c], half::ToFloat(half::FromFloat(xr[c])));
        ASSERT_LE(std::fabs(yr[c] - xr[c]), std::fabs(xr[c]) * 0x1p-11f);
      }
    }
    // Elsewhere: a sub-block's squared error is at most that of c = 0, 4 (step d)^2, so
    // each value is within 2 step d; a block's is at most n (step f16(amax))^2.
    for (int32_t b = 0; b < dim / kQ4SuperBlock; ++b) {
      const ParsedBlock block = ParseBlock(payload, q4, dim, r, b);
      float amax = 0;
      double block_error = 0;
      for (int32_t c = b * kQ4SuperBlock; c < (b + 1) * kQ4SuperBlock; ++c) {
        const float rest = is_outlier[c] ? 0.0f : xr[c];
        amax = std::max(amax, std::fabs(rest));
        if (is_outlier[c]) continue;
        const float err = std::fabs(yr[c] - xr[c]);
        ASSERT_LE(err, 2 * step * block.d * (1.0f + 1e-4f)) << r << " " << c;
        block_error += double{err} * err;
      }
      const double top = step * half::ToFloat(half::FromFloat(amax));
      ASSERT_LE(block_error, kQ4SuperBlock * top * top * (1.0 + 1e-4)) << r << " " << b;
    }
  }
}

double NonMassiveNmse(const std::vector<float>& x, const std::vector<float>& y, int32_t dim) {
  double err = 0, sig = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const int32_t c = static_cast<int32_t>(i % dim);
    if (std::find(std::begin(kMassive), std::end(kMassive), c) != std::end(kMassive)) continue;
    err += (double{y[i]} - x[i]) * (double{y[i]} - x[i]);
    sig += double{x[i]} * x[i];
  }
  return err / sig;
}

TEST(Q4CodecTest, OutliersRescueMassiveActivationRows) {
  const int32_t n = 32, dim = 2048;
  const std::vector<float> x = MassiveActivationRows(n, dim, 32);
  const Coded plain = RoundTrip(Q4Codec(0), x, n, dim);
  const Coded with_outliers = RoundTrip(Q4Codec(), x, n, dim);
  const double plain_nmse = NonMassiveNmse(x, plain.decoded, dim);
  const double outlier_nmse = NonMassiveNmse(x, with_outliers.decoded, dim);
  std::printf("non-massive NMSE: plain %.3e, with outliers %.3e\n", plain_nmse, outlier_nmse);
  // Measured: plain ~1.6 (a massive value sets its block's scale: the block's other
  // values land on levels ~20x their size), with outliers ~2.5e-3, for 10% more bytes.
  EXPECT_GT(plain_nmse, 0.5);
  EXPECT_LT(outlier_nmse, 4e-3);
  EXPECT_EQ(with_outliers.payload.size() - plain.payload.size(), n * 32u * sizeof(WireQ4Outlier));
}

// Sub-block scales keep small channels precise next to large ones: on rows whose channels
// differ in scale, q4 beats one scale per 32 values (ggml's Q4_0, emulated here) by far.
TEST(Q4CodecTest, BeatsOneScalePerBlockOnUnevenRows) {
  const int32_t n = 64, dim = 256;
  const std::vector<float> x = UnevenGaussianRows(n, dim, 33);
  const std::vector<float> y = RoundTrip(Q4Codec(), x, n, dim).decoded;
  double err = 0, q40_err = 0, sig = 0;
  for (size_t b = 0; b < x.size(); b += 32) {
    float m = 0;
    for (size_t i = b; i < b + 32; ++i) m = std::fabs(x[i]) > std::fabs(m) ? x[i] : m;
    const float d = m / -8.0f;
    for (size_t i = b; i < b + 32; ++i) {
      const float q = std::clamp(std::nearbyint(x[i] / d), -8.0f, 7.0f);
      q40_err += (double{x[i]} - d * q) * (double{x[i]} - d * q);
      err += (double{x[i]} - y[i]) * (double{x[i]} - y[i]);
      sig += double{x[i]} * x[i];
    }
  }
  std::printf("NMSE: q4 %.3e, Q4_0 %.3e\n", err / sig, q40_err / sig);
  // Measured: q4 ~2.0e-3, Q4_0 ~6.4e-3 (4.5 bits/value against q4's 5.0 + outliers).
  EXPECT_LT(err / sig, 2.5e-3);
  EXPECT_LT(err * 2.5, q40_err);
}

// The level table is (close to) a fixed point of Lloyd's algorithm under this encoder: each
// level is the centroid, in units of its sub-block scale, of the values coded to it. This
// is how the table was made (from the Gaussian Lloyd-Max levels, iterating on these rows).
TEST(Q4CodecTest, LevelsAreCentroidsOfTheirCells) {
  const int32_t n = 256, dim = 2048;
  const std::vector<float> x = UnevenGaussianRows(n, dim, 34);
  const Q4Codec q4;
  std::string payload;
  ASSERT_TRUE(q4.Encode(x, n, dim, &payload).ok());
  double num[8] = {}, den[8] = {};
  for (int32_t r = 0; r < n; ++r) {
    std::vector<bool> is_outlier(dim);
    for (const WireQ4Outlier& o : OutliersOfRow(payload, q4, dim, r)) is_outlier[o.channel] = true;
    for (int32_t b = 0; b < dim / kQ4SuperBlock; ++b) {
      const ParsedBlock block = ParseBlock(payload, q4, dim, r, b);
      for (int i = 0; i < kQ4SuperBlock; ++i) {
        const int32_t c = b * kQ4SuperBlock + i;
        if (is_outlier[c]) continue;
        const double scale = block.d * kQ4SubScale[block.c[i / kQ4SubBlock]];
        const int q = block.q[i];
        const int m = q >= 8 ? q - 8 : 7 - q;
        num[m] += (q >= 8 ? 1 : -1) * x[r * dim + c] * scale;
        den[m] += scale * scale;
      }
    }
  }
  // The table is normalized to a largest level of 1 (any common factor is absorbed by d).
  const double norm = num[7] / den[7];
  for (int m = 0; m < 8; ++m) {
    const double centroid = num[m] / den[m] / norm;
    std::printf("level %d: table %.4f, centroid %.4f\n", m, kQ4LevelMagnitude[m], centroid);
    EXPECT_NEAR(kQ4LevelMagnitude[m], centroid, 4e-3) << m;
  }
}

TEST(Q4CodecTest, TiesPickLowestChannels) {
  std::vector<float> x(64, 2.0f);
  const Q4Codec q4;  // one outlier at dim 64
  std::string payload;
  ASSERT_TRUE(q4.Encode(x, 1, 64, &payload).ok());
  EXPECT_EQ(OutliersOfRow(payload, q4, 64, 0)[0].channel, 0);
  std::vector<float> y(64);
  ASSERT_TRUE(q4.Decode(payload, 1, 64, absl::MakeSpan(y)).ok());
  EXPECT_EQ(y, x);  // 2 = d * 1 exactly, d = 2
}

TEST(Q4CodecTest, SymmetricLevelsCarryBothSignsOfTheExtreme) {
  std::vector<float> x(64, 2.0f);
  x[10] = -2.0f;
  x[0] = 3.0f;  // the outlier
  EXPECT_EQ(RoundTrip(Q4Codec(), x, 1, 64).decoded, x);
}

TEST(Q4CodecTest, ZeroAndTinyBlocks) {
  std::vector<float> x(96, 0.0f);
  x[70] = 1e-9f;  // below the smallest f16 scale: the half block decodes to zero
  x[5] = 1.0f;    // the outlier
  const std::vector<float> y = RoundTrip(Q4Codec(), x, 1, 96).decoded;
  for (int i = 0; i < 96; ++i) EXPECT_EQ(y[i], i == 5 ? 1.0f : 0.0f) << i;
}

TEST(Q4CodecTest, HalfBlockEndsOddRows) {
  const int32_t n = 3, dim = 288;  // llama2.c stories15M: 4 blocks of 64 and one of 32
  const std::vector<float> x = UnevenGaussianRows(n, dim, 35);
  const Q4Codec q4;
  const Coded coded = RoundTrip(q4, x, n, dim);
  const std::string& payload = coded.payload;
  const std::vector<float>& y = coded.decoded;
  ASSERT_EQ(payload.size(), n * (4u * 4 + 4 * 40 + 21));
  const float step = WorstCaseStep();
  for (int32_t r = 0; r < n; ++r) {
    const ParsedBlock tail = ParseBlock(payload, q4, dim, r, 4);
    ASSERT_EQ(tail.c.size(), 8u);
    std::vector<bool> is_outlier(dim);
    for (const WireQ4Outlier& o : OutliersOfRow(payload, q4, dim, r)) is_outlier[o.channel] = true;
    for (int32_t c = 256; c < dim; ++c) {
      if (is_outlier[c]) continue;
      ASSERT_LE(std::fabs(y[r * dim + c] - x[r * dim + c]), 2 * step * tail.d * (1.0f + 1e-4f));
    }
  }
}

TEST(Q4CodecTest, DimConstraints) {
  const Q4Codec q4;
  EXPECT_TRUE(q4.ValidateDim(65536).ok());
  EXPECT_TRUE(q4.ValidateDim(96).ok());
  EXPECT_EQ(q4.ValidateDim(65568).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(q4.ValidateDim(80).code(), absl::StatusCode::kInvalidArgument);
}

TEST(Q4CodecTest, RejectsOutlierBeyondHalfRange) {
  std::vector<float> x(64, 1.0f);
  x[33] = 1e5f;
  std::string payload;
  const absl::Status st = Q4Codec().Encode(x, 1, 64, &payload);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("row 0, channel 33"));
}

TEST(Q4CodecTest, RejectsBlockValueBeyondHalfRange) {
  // With outliers the largest value is always an outlier; without, the block must hold it.
  std::vector<float> x(128, 1.0f);
  x[100] = -7e4f;
  std::string payload;
  const absl::Status st = Q4Codec(0).Encode(x, 1, 128, &payload);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("row 0 block 1"));
  x[100] = 65504.0f;  // the largest half: fine
  EXPECT_TRUE(Q4Codec(0).Encode(x, 1, 128, &payload).ok());
}

class Q4MalformedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(40);
    std::normal_distribution<float> dist;
    x_.resize(2 * kDim);
    for (float& v : x_) v = dist(rng);
    ASSERT_TRUE(q4_.Encode(x_, 2, kDim, &payload_).ok());
    ASSERT_EQ(q4_.OutlierCount(kDim), 2);
  }
  // Byte offset of row 1's outlier i, and of its block b.
  size_t Outlier(int i) const { return q4_.RowBytes(kDim) + i * sizeof(WireQ4Outlier); }
  size_t Block(int b) const { return Outlier(2) + b * sizeof(WireQ4Block); }
  absl::Status Decode(const std::string& payload) {
    std::vector<float> y(x_.size());
    return q4_.Decode(payload, 2, kDim, absl::MakeSpan(y));
  }
  void Put16(size_t at, uint16_t v) { std::memcpy(payload_.data() + at, &v, 2); }

  static constexpr int32_t kDim = 160;  // 2 outliers, 2 blocks and a half block per row
  const Q4Codec q4_;
  std::vector<float> x_;
  std::string payload_;
};

TEST_F(Q4MalformedTest, ValidPayloadDecodes) { EXPECT_TRUE(Decode(payload_).ok()); }

TEST_F(Q4MalformedTest, AnyCodeBytesDecode) {
  // Every 3-bit scale code and 4-bit level code is valid: only scales are checked.
  for (size_t i = Block(0) + 2; i < Block(1); ++i) payload_[i] = static_cast<char>(0xff);
  EXPECT_TRUE(Decode(payload_).ok());
}

TEST_F(Q4MalformedTest, OutlierChannelOutOfRange) {
  Put16(Outlier(1), kDim);
  const absl::Status st = Decode(payload_);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("row 1 outlier 1 has channel 160"));
}

TEST_F(Q4MalformedTest, OutlierChannelsNotIncreasing) {
  uint16_t first;
  std::memcpy(&first, payload_.data() + Outlier(0), 2);
  Put16(Outlier(1), first);  // duplicate
  const absl::Status st = Decode(payload_);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("strictly increasing"));
}

TEST_F(Q4MalformedTest, NonFiniteOutlierValue) {
  Put16(Outlier(0) + 2, 0x7e00);
  const absl::Status st = Decode(payload_);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("non-finite outlier value at row 1"));
}

TEST_F(Q4MalformedTest, NonFiniteScale) {
  Put16(Block(1), 0x7c00);
  const absl::Status st = Decode(payload_);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("non-finite or negative scale at row 1 block 1"));
}

TEST_F(Q4MalformedTest, NegativeScale) {
  for (uint16_t bad : {uint16_t{0xbc00}, uint16_t{0x8000}}) {  // -1 and -0
    std::string payload = payload_;
    std::memcpy(payload.data() + Block(0), &bad, 2);
    const absl::Status st = Decode(payload);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(st.message(), HasSubstr("non-finite or negative scale at row 1 block 0"));
  }
}

TEST_F(Q4MalformedTest, BadHalfBlockScale) {
  Put16(Block(2), 0xfe00);  // NaN in the 32-value block that ends the row
  const absl::Status st = Decode(payload_);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("row 1 block 2"));
}

}  // namespace
}  // namespace tandem
