#include "edge/completion_text.h"

namespace tandem::edge {

CompletionText::CompletionText(std::vector<std::string> stops, bool strip_leading_space)
    : stops_(std::move(stops)), strip_leading_space_(strip_leading_space) {}

std::string CompletionText::Push(std::string_view piece) {
  return Strip(stops_.Push(utf8_.Push(piece)));
}

std::string CompletionText::Finish() {
  std::string tail = stops_.Push(utf8_.Finish());
  return Strip(tail + stops_.Finish());
}

std::string CompletionText::Strip(std::string text) {
  if (strip_leading_space_ && !text.empty()) {
    if (text[0] == ' ') text.erase(0, 1);
    strip_leading_space_ = false;
  }
  return text;
}

}  // namespace tandem::edge
