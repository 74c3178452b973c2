#include "common/tokenizer/unicode_text.h"

#include <unicode/uchar.h>

#include <array>

namespace tandem {
namespace {

uint8_t ClassFromIcu(char32_t cp) {
  const UChar32 c = static_cast<UChar32>(cp);
  const uint32_t mask = U_GET_GC_MASK(c);
  uint8_t bits = 0;
  if (mask & U_GC_L_MASK) bits |= kClassLetter;
  if (mask & U_GC_N_MASK) bits |= kClassNumber;
  if (mask & U_GC_P_MASK) bits |= kClassPunctuation;
  if (u_isUWhiteSpace(c)) bits |= kClassWhitespace;
  return bits;
}

// The Basic Multilingual Plane, classified once (64 KiB); other planes ask ICU directly.
const std::array<uint8_t, 0x10000>& BmpClasses() {
  static const auto* table = [] {
    auto* t = new std::array<uint8_t, 0x10000>();
    for (char32_t cp = 0; cp < 0x10000; ++cp) (*t)[cp] = ClassFromIcu(cp);
    return t;
  }();
  return *table;
}

}  // namespace

uint8_t CodepointClass(char32_t cp) {
  if (cp < 0x10000) return BmpClasses()[cp];
  if (cp > 0x10FFFF) return 0;
  return ClassFromIcu(cp);
}

void DecodeUtf8Lossy(std::string_view text, std::vector<char32_t>& out) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  auto cont = [&](size_t i) { return i < n && (s[i] & 0xC0) == 0x80; };
  for (size_t i = 0; i < n;) {
    const unsigned char b = s[i];
    if (b < 0x80) {
      out.push_back(b);
      i += 1;
    } else if ((b & 0xE0) == 0xC0 && cont(i + 1)) {
      out.push_back((char32_t{b & 0x1Fu} << 6) | (s[i + 1] & 0x3Fu));
      i += 2;
    } else if ((b & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
      out.push_back((char32_t{b & 0x0Fu} << 12) | (char32_t{s[i + 1] & 0x3Fu} << 6) |
                    (s[i + 2] & 0x3Fu));
      i += 3;
    } else if ((b & 0xF8) == 0xF0 && cont(i + 1) && cont(i + 2) && cont(i + 3) &&
               ((char32_t{b & 0x07u} << 18) | (char32_t{s[i + 1] & 0x3Fu} << 12)) <= 0x10FFFF) {
      out.push_back((char32_t{b & 0x07u} << 18) | (char32_t{s[i + 1] & 0x3Fu} << 12) |
                    (char32_t{s[i + 2] & 0x3Fu} << 6) | (s[i + 3] & 0x3Fu));
      i += 4;
    } else {
      // Like llama.cpp, overlong forms and surrogates pass (only bit patterns are checked).
      // Beyond U+10FFFF llama.cpp throws while re-encoding; here it is invalid input.
      out.push_back(0xFFFD);
      i += 1;
    }
  }
}

void AppendUtf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsJsTrimSpace(char32_t cp) {
  if (cp == 0x09 || cp == 0x0A || cp == 0x0B || cp == 0x0C || cp == 0x0D || cp == 0xA0 ||
      cp == 0xFEFF || cp == 0x2028 || cp == 0x2029) {
    return true;
  }
  return cp <= 0x10FFFF && u_charType(static_cast<UChar32>(cp)) == U_SPACE_SEPARATOR;
}

}  // namespace tandem
