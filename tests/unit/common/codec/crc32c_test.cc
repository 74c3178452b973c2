#include "common/codec/crc32c.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace tandem {
namespace {

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32cExtendPortable(0, "123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, and of 0xff.
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  const std::string data = "The quick brown fox jumps over the lazy dog, twice over.";
  for (size_t cut = 0; cut <= data.size(); ++cut) {
    const std::string_view a = std::string_view(data).substr(0, cut);
    const std::string_view b = std::string_view(data).substr(cut);
    EXPECT_EQ(Crc32cExtend(Crc32c(a), b), Crc32c(data)) << cut;
  }
}

TEST(Crc32cTest, DispatchedMatchesPortableOnAllLengthsAndOffsets) {
  std::mt19937 rng(7);
  std::string buf(1100, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t len = 0; len + offset <= buf.size(); len += (len < 64 ? 1 : 37)) {
      const std::string_view s = std::string_view(buf).substr(offset, len);
      ASSERT_EQ(Crc32c(s), Crc32cExtendPortable(0, s)) << offset << " " << len;
    }
  }
}

TEST(Crc32cTest, DetectsSingleBitFlips) {
  std::string buf(256, 'x');
  const uint32_t good = Crc32c(buf);
  for (size_t bit = 0; bit < buf.size() * 8; bit += 13) {
    buf[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_NE(Crc32c(buf), good) << bit;
    buf[bit / 8] ^= static_cast<char>(1 << (bit % 8));
  }
}

}  // namespace
}  // namespace tandem
