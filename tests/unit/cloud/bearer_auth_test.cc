#include "cloud/bearer_auth.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace tandem::cloud {
namespace {

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::path(testing::TempDir()) / name).string();
  std::ofstream(path) << text;
  return path;
}

TEST(BearerTokensTest, ReadsOneTokenPerLine) {
  auto tokens =
      BearerTokens::FromFile(WriteFile("tokens", "# devices\n  alpha-123 \n\nbeta-456\n"));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 2u);
  EXPECT_TRUE(tokens->Check("Bearer alpha-123").ok());
  EXPECT_TRUE(tokens->Check("bearer beta-456").ok());
  for (const char* bad : {"Bearer alpha-12", "Bearer alpha-1234", "Bearer ", "alpha-123",
                          "Basic alpha-123", "", "Bearer # devices"}) {
    EXPECT_EQ(tokens->Check(bad).code(), absl::StatusCode::kUnauthenticated) << bad;
  }
}

TEST(BearerTokensTest, RejectsEmptySets) {
  EXPECT_EQ(BearerTokens::FromFile(WriteFile("empty", "# none\n\n")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BearerTokens::FromFile("/nonexistent/tokens").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(BearerTokens::FromList({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BearerTokens::FromList({""}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BearerTokensTest, EachTokenNamesItsPrincipal) {
  auto tokens = BearerTokens::FromFile(
      WriteFile("named", "alpha-123 device-17\nbeta-456\tdevice-18\ngamma-789\n"));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*tokens->Authenticate("Bearer alpha-123"), "device-17");
  EXPECT_EQ(*tokens->Authenticate("Bearer beta-456"), "device-18");
  // Unnamed: derived from the token's digest, stable and not the token itself.
  absl::StatusOr<std::string> unnamed = tokens->Authenticate("Bearer gamma-789");
  ASSERT_TRUE(unnamed.ok());
  EXPECT_EQ(unnamed->rfind("token:", 0), 0u);
  EXPECT_EQ(unnamed->size(), 6u + 16u);
  EXPECT_EQ(unnamed->find("gamma"), std::string::npos);
  // The name is not part of the token.
  EXPECT_FALSE(tokens->Authenticate("Bearer alpha-123 device-17").ok());
}

}  // namespace
}  // namespace tandem::cloud
