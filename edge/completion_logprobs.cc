#include "edge/completion_logprobs.h"

#include <algorithm>
#include <utility>

namespace tandem::edge {

int32_t CountChars(std::string_view text) {
  int32_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

void LogprobQueue::Add(LogprobEntry entry) { pending_.push_back(std::move(entry)); }

std::vector<LogprobEntry> LogprobQueue::Take(std::string_view text) {
  if (text.empty()) return {};
  // The pending tokens' pieces make up `text`, up to what UTF-8 repair, a stripped space
  // or a stop sequence changed: offsets by piece length, kept inside the text.
  size_t byte = 0;
  for (LogprobEntry& e : pending_) {
    e.text_offset = chars_sent_ + CountChars(text.substr(0, std::min(byte, text.size())));
    byte += e.bytes.size();
  }
  chars_sent_ += CountChars(text);
  return std::exchange(pending_, {});
}

std::vector<LogprobEntry> LogprobQueue::Finish(bool stopped) {
  std::vector<LogprobEntry> out = std::exchange(pending_, {});
  if (stopped) return {};
  for (LogprobEntry& e : out) e.text_offset = chars_sent_;
  return out;
}

}  // namespace tandem::edge
