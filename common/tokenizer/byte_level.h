// GPT-2's byte-level alphabet: every byte has a printable stand-in code point, and byte-level
// BPE vocabularies (Llama 3, Qwen, SmolLM) store their pieces in it ("Ġ" is the space 0x20).
// Printable Latin-1 bytes (! .. ~, ¡ .. ¬, ® .. ÿ) stand for themselves; the other 68 bytes
// map, in order, to U+0100 .. U+0143.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tandem {

// The stand-in code point of `byte`.
char32_t ByteToCodepoint(uint8_t byte);
// The byte a stand-in code point stands for; nullopt if `cp` is not in the alphabet.
std::optional<uint8_t> CodepointToByte(char32_t cp);

// UTF-8 of every byte's stand-in, for encoding text quickly.
const std::array<std::string, 256>& ByteLevelStrings();

// Raw bytes of a vocabulary piece written in the alphabet. Code points outside it are kept
// as their UTF-8 (llama.cpp writes a marker instead; vocabularies do not have them).
std::string DecodeByteLevel(std::string_view piece);

}  // namespace tandem
