// Finds client-given stop sequences in streamed text. Text that might be the beginning of
// a stop sequence is held back until it is known not to be, so that a client never sees
// any part of a stop sequence (the OpenAI API excludes it from the output).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem::edge {

class StopMatcher {
 public:
  // Empty sequences are ignored.
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends `text` (complete UTF-8); returns the text that is safe to show. Once a stop
  // sequence is found, returns the text before it and stopped() turns true; later calls
  // return "".
  std::string Push(std::string_view text);
  // End of the stream without a stop: the held-back text.
  std::string Finish();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace tandem::edge
