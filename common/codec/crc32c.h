// CRC-32C (Castagnoli), the checksum of HiddenChunk.payload. Uses the SSE4.2 crc32
// instruction when the CPU has it, a slicing-by-8 table otherwise.
#pragma once

#include <cstdint>
#include <string_view>

namespace tandem {

// CRC-32C of `data`. Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(std::string_view data);

// CRC-32C of (the bytes `crc` covers) + `data`: Crc32c(a + b) ==
// Crc32cExtend(Crc32c(a), b), and Crc32cExtend(0, a) == Crc32c(a).
uint32_t Crc32cExtend(uint32_t crc, std::string_view data);

// The portable table version, always available (the reference the hardware path is
// tested against).
uint32_t Crc32cExtendPortable(uint32_t crc, std::string_view data);

// True if Crc32cExtend uses the CPU's crc32 instruction.
bool Crc32cIsHardwareAccelerated();

}  // namespace tandem
