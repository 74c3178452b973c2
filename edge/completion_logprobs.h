// The logprobs a client sees of a generation, in step with its text (completion_text.h):
// the text is held back at times (an incomplete UTF-8 sequence, a possible stop sequence),
// so a token's entry goes out with the first text sent at or after the token, and the
// entries of tokens whose text never shows (cut by a stop sequence) are dropped. The
// streamed chunks and the whole response thus carry the same entries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::edge {

// One generated token's logprobs, by text (the API shows pieces, not ids).
struct LogprobEntry {
  struct Alternative {
    std::string bytes;  // the token's piece (may be part of a UTF-8 sequence)
    float logprob = 0;
  };
  std::string bytes;             // the token's piece
  float logprob = 0;             // natural log, the model's unfiltered distribution (temperature 1)
  std::vector<Alternative> top;  // the most likely tokens, most likely first
  // Where the token starts in the choice's text, in Unicode characters (code points),
  // counted over everything sent of that text, streamed or not.
  int32_t text_offset = 0;
};

class LogprobQueue {
 public:
  // A token (its piece pushed to the text) and its logprobs.
  void Add(LogprobEntry entry);
  // `text` (from CompletionText) is sent now: the entries to send with it (none if `text`
  // is empty: they wait), with their text offsets.
  std::vector<LogprobEntry> Take(std::string_view text);
  // The end of the generation, after the last Take: the entries still waiting. They
  // belong to no visible text: dropped if a stop sequence ended the text (`stopped`),
  // else sent at the end of the text.
  std::vector<LogprobEntry> Finish(bool stopped);

 private:
  std::vector<LogprobEntry> pending_;
  int32_t chars_sent_ = 0;
};

// Code points of UTF-8 `text` (continuation bytes are not counted).
int32_t CountChars(std::string_view text);

}  // namespace tandem::edge
