#include "edge/chat_template.h"

#include "gtest/gtest.h"

namespace tandem::edge {
namespace {

TEST(ChatTemplateTest, OneLinePerMessageThenAssistantCue) {
  std::vector<ChatMessage> messages = {{"system", "Be brief."},
                                       {"user", "Tell me a story."},
                                       {"assistant", "Once upon a time."},
                                       {"developer", "Rules."},
                                       {"user", "More"}};
  EXPECT_EQ(FormatChatPrompt(messages),
            "System: Be brief.\nUser: Tell me a story.\nAssistant: Once upon a time.\n"
            "System: Rules.\nUser: More\nAssistant:");
}

TEST(ChatTemplateTest, StopSequenceMatchesTheUserLinePrefix) {
  std::string prompt = FormatChatPrompt({{{"user", "a"}, {"user", "b"}}});
  EXPECT_NE(prompt.find(kChatStopSequence), std::string::npos);
}

}  // namespace
}  // namespace tandem::edge
