#include "edge/stop_matcher.h"

#include "gtest/gtest.h"

namespace tandem::edge {
namespace {

TEST(StopMatcherTest, NoStopsPassesEverything) {
  StopMatcher m({});
  EXPECT_EQ(m.Push("abc"), "abc");
  EXPECT_EQ(m.Finish(), "");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcherTest, StopInsideOnePiece) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.Push("the END of it"), "the ");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.Push("more"), "");
  EXPECT_EQ(m.Finish(), "");
}

TEST(StopMatcherTest, StopSplitAcrossPiecesIsNeverShown) {
  StopMatcher m({"\nUser:"});
  EXPECT_EQ(m.Push("Hi there."), "Hi there.");
  EXPECT_EQ(m.Push("\nUs"), "");  // might be the stop sequence: held back
  EXPECT_EQ(m.Push("e"), "");
  EXPECT_EQ(m.Push("r:"), "");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcherTest, HeldTextIsReleasedWhenItTurnsOutNotToMatch) {
  StopMatcher m({"\nUser:"});
  EXPECT_EQ(m.Push("a\nU"), "a");
  EXPECT_EQ(m.Push("nder"), "\nUnder");
  EXPECT_EQ(m.Push("\n"), "");
  EXPECT_EQ(m.Finish(), "\n");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcherTest, EarliestOfSeveralStopsWins) {
  StopMatcher m({"world", "lo"});
  EXPECT_EQ(m.Push("hello world"), "hel");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcherTest, EmptyStopSequencesAreIgnored) {
  StopMatcher m({"", "x"});
  EXPECT_EQ(m.Push("abc"), "abc");
  EXPECT_EQ(m.Push("dxe"), "d");
}

}  // namespace
}  // namespace tandem::edge
