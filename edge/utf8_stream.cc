#include "edge/utf8_stream.h"

#include <cstdint>

namespace tandem::edge {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the sequence that lead byte `b` starts, or 0 if `b` cannot start one.
int SequenceLength(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

// Whether `b` may follow `lead` as the byte at offset `i` >= 1 of its sequence. The
// second byte's range excludes overlong forms, surrogates and code points > U+10FFFF.
bool ValidContinuation(uint8_t lead, int i, uint8_t b) {
  if (i == 1) {
    if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
    if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
    if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
    if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
  }
  return b >= 0x80 && b <= 0xBF;
}

// Appends the valid text of `in` to `out`. If `hold_tail`, an incomplete but so far valid
// sequence at the end is not consumed; returns the number of bytes consumed.
size_t Convert(std::string_view in, bool hold_tail, std::string& out) {
  size_t i = 0;
  while (i < in.size()) {
    const uint8_t lead = static_cast<uint8_t>(in[i]);
    const int len = SequenceLength(lead);
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    int k = 1;  // bytes of the sequence seen valid so far
    while (k < len && i + k < in.size() &&
           ValidContinuation(lead, k, static_cast<uint8_t>(in[i + k]))) {
      ++k;
    }
    if (k == len) {
      out.append(in.substr(i, len));
    } else if (i + k == in.size() && hold_tail) {
      return i;  // valid so far, the rest has not arrived yet
    } else {
      out += kReplacement;  // a maximal invalid subpart
    }
    i += k;
  }
  return i;
}

}  // namespace

std::string Utf8Stream::Push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  const size_t used = Convert(pending_, /*hold_tail=*/true, out);
  pending_.erase(0, used);
  return out;
}

std::string Utf8Stream::Finish() {
  std::string out;
  Convert(pending_, /*hold_tail=*/false, out);
  pending_.clear();
  return out;
}

std::string SanitizeUtf8(std::string_view bytes) {
  std::string out;
  Convert(bytes, /*hold_tail=*/false, out);
  return out;
}

}  // namespace tandem::edge
