#include "common/tokenizer/byte_level.h"

#include <vector>

#include "common/tokenizer/unicode_text.h"

namespace tandem {
namespace {

bool StandsForItself(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

const std::array<char32_t, 256>& Table() {
  static const auto* table = [] {
    auto* t = new std::array<char32_t, 256>();
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) (*t)[b] = StandsForItself(b) ? b : next++;
    return t;
  }();
  return *table;
}

}  // namespace

char32_t ByteToCodepoint(uint8_t byte) { return Table()[byte]; }

std::optional<uint8_t> CodepointToByte(char32_t cp) {
  if (cp < 0x100 && StandsForItself(static_cast<int>(cp))) return static_cast<uint8_t>(cp);
  if (cp >= 0x100 && cp < 0x144) {
    // The n-th byte that does not stand for itself.
    int n = static_cast<int>(cp - 0x100);
    for (int b = 0; b < 256; ++b) {
      if (!StandsForItself(b) && n-- == 0) return static_cast<uint8_t>(b);
    }
  }
  return std::nullopt;
}

const std::array<std::string, 256>& ByteLevelStrings() {
  static const auto* strings = [] {
    auto* s = new std::array<std::string, 256>();
    for (int b = 0; b < 256; ++b) AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(b)), (*s)[b]);
    return s;
  }();
  return *strings;
}

std::string DecodeByteLevel(std::string_view piece) {
  std::vector<char32_t> cps;
  DecodeUtf8Lossy(piece, cps);
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) {
    if (std::optional<uint8_t> b = CodepointToByte(cp)) {
      out.push_back(static_cast<char>(*b));
    } else {
      AppendUtf8(cp, out);
    }
  }
  return out;
}

}  // namespace tandem
