// Turns generated token pieces into valid UTF-8 text for clients. Byte-fallback tokens
// (<0xE2> <0x80> <0x94>) can split one multibyte character across several tokens, so the
// incomplete tail of a sequence is held back until it completes; bytes that can never be
// part of a valid sequence become U+FFFD, one per maximal invalid subpart (as WHATWG and
// Unicode recommend).
#pragma once

#include <string>
#include <string_view>

namespace tandem::edge {

class Utf8Stream {
 public:
  // Appends `bytes`; returns the text that is now complete (valid UTF-8, maybe empty).
  std::string Push(std::string_view bytes);
  // End of the stream: an incomplete tail that is still held back becomes U+FFFD.
  std::string Finish();
  // Bytes held back waiting for the rest of a sequence (at most 3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  std::string pending_;
};

// Valid UTF-8 for any bytes (invalid subparts replaced by U+FFFD).
std::string SanitizeUtf8(std::string_view bytes);

}  // namespace tandem::edge
