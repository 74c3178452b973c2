#include "edge/utf8_stream.h"

#include <string>

#include "gtest/gtest.h"

namespace tandem::edge {
namespace {

constexpr char kFffd[] = "\xEF\xBF\xBD";

// Feeds `bytes` one byte at a time (as byte-fallback tokens arrive) and returns what was
// emitted, checking that every emitted piece is complete.
std::string ByteByByte(const std::string& bytes) {
  Utf8Stream stream;
  std::string out;
  for (char c : bytes) {
    std::string piece = stream.Push(std::string(1, c));
    EXPECT_EQ(SanitizeUtf8(piece), piece) << "emitted an incomplete or invalid sequence";
    out += piece;
  }
  return out + stream.Finish();
}

TEST(Utf8StreamTest, AsciiPassesThroughAtOnce) {
  Utf8Stream stream;
  EXPECT_EQ(stream.Push("Once upon"), "Once upon");
  EXPECT_EQ(stream.pending_bytes(), 0u);
  EXPECT_EQ(stream.Finish(), "");
}

TEST(Utf8StreamTest, HoldsSplitMultibyteCharacterUntilComplete) {
  Utf8Stream stream;
  // "—" (U+2014) is E2 80 94, arriving as three byte tokens.
  EXPECT_EQ(stream.Push("a\xE2"), "a");
  EXPECT_EQ(stream.pending_bytes(), 1u);
  EXPECT_EQ(stream.Push("\x80"), "");
  EXPECT_EQ(stream.Push("\x94"
                        "b"),
            "\xE2\x80\x94"
            "b");
  EXPECT_EQ(stream.pending_bytes(), 0u);
}

TEST(Utf8StreamTest, FourByteEmojiByteByByte) {
  const std::string text = "hi \xF0\x9F\x98\x80 \xC3\xA9t\xC3\xA9 \xE4\xB8\xAD";
  EXPECT_EQ(ByteByByte(text), text);
}

TEST(Utf8StreamTest, InvalidBytesBecomeReplacementCharacters) {
  // A stray continuation byte, an invalid lead byte, an overlong lead, a surrogate.
  EXPECT_EQ(ByteByByte("a\x80"
                       "b"),
            std::string("a") + kFffd + "b");
  EXPECT_EQ(ByteByByte("\xFF"), kFffd);
  EXPECT_EQ(ByteByByte("\xC0\xAF"), std::string(kFffd) + kFffd);
  EXPECT_EQ(ByteByByte("\xED\xA0\x80"), std::string(kFffd) + kFffd + kFffd);
  // A lead byte interrupted by ASCII: one U+FFFD for the truncated sequence.
  EXPECT_EQ(ByteByByte("\xE2\x80"
                       "x"),
            std::string(kFffd) + "x");
}

TEST(Utf8StreamTest, FinishReplacesAnUnfinishedTail) {
  Utf8Stream stream;
  EXPECT_EQ(stream.Push("ok\xF0\x9F"), "ok");
  EXPECT_EQ(stream.Finish(), kFffd);
  EXPECT_EQ(stream.pending_bytes(), 0u);
}

TEST(Utf8StreamTest, SanitizeKeepsValidText) {
  EXPECT_EQ(SanitizeUtf8("plain \xE2\x80\x94 text"), "plain \xE2\x80\x94 text");
  EXPECT_EQ(SanitizeUtf8("cut \xE2\x80"), std::string("cut ") + kFffd);
}

}  // namespace
}  // namespace tandem::edge
