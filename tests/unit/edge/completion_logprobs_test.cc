#include "edge/completion_logprobs.h"

#include <string>
#include <vector>

#include "edge/completion_text.h"
#include "gtest/gtest.h"

namespace tandem::edge {
namespace {

// Pushes `pieces` through CompletionText and the queue as the API does; returns, per piece,
// the offsets of the entries sent with the text it released, and then those of the end.
std::vector<std::vector<int32_t>> Stream(const std::vector<std::string>& pieces,
                                         std::vector<std::string> stops, std::string* text,
                                         bool strip = false) {
  CompletionText completion(std::move(stops), strip);
  LogprobQueue queue;
  std::vector<std::vector<int32_t>> sent;
  auto offsets = [](const std::vector<LogprobEntry>& entries) {
    std::vector<int32_t> out;
    for (const LogprobEntry& e : entries) out.push_back(e.text_offset);
    return out;
  };
  for (const std::string& piece : pieces) {
    const std::string out = completion.Push(piece);
    *text += out;
    queue.Add({.bytes = piece});
    sent.push_back(offsets(queue.Take(out)));
    if (completion.stopped()) break;
  }
  const std::string tail = completion.Finish();
  *text += tail;
  std::vector<int32_t> end = offsets(queue.Take(tail));
  for (int32_t o : offsets(queue.Finish(completion.stopped()))) end.push_back(o);
  sent.push_back(end);
  return sent;
}

TEST(LogprobQueueTest, EachTokenGoesWithTheTextItReleases) {
  std::string text;
  auto sent = Stream({"Once", " upon", " a"}, {}, &text);
  EXPECT_EQ(text, "Once upon a");
  EXPECT_EQ(sent, (std::vector<std::vector<int32_t>>{{0}, {4}, {9}, {}}));
}

TEST(LogprobQueueTest, HeldBackBytesWaitAndOffsetsCountCharacters) {
  // "é" split over two byte tokens, then "x": offsets in characters (é is one).
  std::string text;
  auto sent = Stream({"a", "\xC3", "\xA9", "x"}, {}, &text);
  EXPECT_EQ(text, "a\xC3\xA9x");
  EXPECT_EQ(sent, (std::vector<std::vector<int32_t>>{{0}, {}, {1, 2}, {2}, {}}));
}

TEST(LogprobQueueTest, TokensOfAStopSequenceAreDropped) {
  std::string text;
  // "\n" is held (it may start the stop sequence), the next "\n" completes it.
  auto sent = Stream({"The", " end", "\n", "\n", "More"}, {"\n\n"}, &text);
  EXPECT_EQ(text, "The end");
  EXPECT_EQ(sent, (std::vector<std::vector<int32_t>>{{0}, {3}, {}, {}, {}}));
  // A token that shows text before the stop sequence keeps its entry.
  text.clear();
  sent = Stream({"The", " end.\n\nMore"}, {"\n\n"}, &text);
  EXPECT_EQ(text, "The end.");
  EXPECT_EQ(sent, (std::vector<std::vector<int32_t>>{{0}, {3}, {}}));
}

TEST(LogprobQueueTest, TokensWithoutVisibleTextGoAtTheEnd) {
  std::string text;
  // A chat reply's leading space is stripped: its token shows nothing.
  auto sent = Stream({" "}, {}, &text, /*strip=*/true);
  EXPECT_EQ(text, "");
  EXPECT_EQ(sent, (std::vector<std::vector<int32_t>>{{}, {0}}));
}

TEST(LogprobQueueTest, CountChars) {
  EXPECT_EQ(CountChars(""), 0);
  EXPECT_EQ(CountChars("abc"), 3);
  EXPECT_EQ(CountChars("\xC3\xA9\xE2\x80\x94"), 2);
}

}  // namespace
}  // namespace tandem::edge
