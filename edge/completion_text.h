// The text a client sees of a generation: token pieces -> complete UTF-8 (Utf8Stream) ->
// stop sequences cut out (StopMatcher) -> optionally one leading space dropped (chat
// replies follow "Assistant:"). Push returns what may be sent now.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "edge/stop_matcher.h"
#include "edge/utf8_stream.h"

namespace tandem::edge {

class CompletionText {
 public:
  CompletionText(std::vector<std::string> stops, bool strip_leading_space);

  std::string Push(std::string_view piece);
  // End of the generation: whatever was held back (unless a stop sequence was found).
  std::string Finish();
  // A stop sequence was found: generation should end (finish_reason "stop").
  bool stopped() const { return stops_.stopped(); }

 private:
  std::string Strip(std::string text);

  Utf8Stream utf8_;
  StopMatcher stops_;
  bool strip_leading_space_;
};

}  // namespace tandem::edge
