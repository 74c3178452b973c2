// Code points and their Unicode classes for the BPE pre-tokenizers. Decoding follows
// llama.cpp's unicode_cpts_from_utf8 exactly (an invalid or truncated sequence becomes one
// U+FFFD and consumes one byte), so that invalid input splits and tokenizes as llama.cpp
// does. Classes come from ICU (the maintained Unicode database), never from hand-written
// tables: \p{L} = general category L*, \p{N} = N*, whitespace = the White_Space property.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tandem {

// Bits of CodepointClass.
inline constexpr uint8_t kClassLetter = 1;       // \p{L}
inline constexpr uint8_t kClassNumber = 2;       // \p{N}
inline constexpr uint8_t kClassWhitespace = 4;   // White_Space (\s)
inline constexpr uint8_t kClassPunctuation = 8;  // \p{P}

// The class bits of `cp` (0 for anything else: symbols, marks, controls, unassigned).
uint8_t CodepointClass(char32_t cp);

// Appends the code points of `text`; invalid bytes become U+FFFD (one per byte skipped).
void DecodeUtf8Lossy(std::string_view text, std::vector<char32_t>& out);

// Appends the UTF-8 encoding of `cp` (cp <= 0x10FFFF).
void AppendUtf8(char32_t cp, std::string& out);

// Whitespace as JavaScript's String.prototype.trim sees it (the Jinja engine the chat
// templates are checked against): Zs, TAB, VT, FF, LF, CR, NBSP, U+FEFF, U+2028/9.
bool IsJsTrimSpace(char32_t cp);

}  // namespace tandem
