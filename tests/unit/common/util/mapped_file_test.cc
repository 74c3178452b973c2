// Both load modes give the file's exact bytes; errors name the file.
#include "common/util/mapped_file.h"

#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"

namespace tandem {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(MappedFileTest, BothModesHoldTheFilesBytes) {
  const std::string expected = ReadAll(TANDEM_TEST_MODEL);
  ASSERT_FALSE(expected.empty());
  for (LoadMode mode : {LoadMode::kMmap, LoadMode::kHugePageCopy}) {
    absl::StatusOr<std::unique_ptr<MappedFile>> file = MappedFile::Open(TANDEM_TEST_MODEL, mode);
    ASSERT_TRUE(file.ok()) << file.status();
    absl::Span<const uint8_t> bytes = (*file)->bytes();
    ASSERT_EQ(bytes.size(), expected.size());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), expected);
  }
}

TEST(MappedFileTest, EmptyFileAndErrors) {
  const std::string empty = testing::TempDir() + "/empty.bin";
  std::ofstream(empty).close();
  for (LoadMode mode : {LoadMode::kMmap, LoadMode::kHugePageCopy}) {
    absl::StatusOr<std::unique_ptr<MappedFile>> file = MappedFile::Open(empty, mode);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_TRUE((*file)->bytes().empty());
    absl::StatusOr<std::unique_ptr<MappedFile>> missing =
        MappedFile::Open(testing::TempDir() + "/missing.bin", mode);
    EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
    EXPECT_NE(missing.status().message().find("missing.bin"), std::string::npos);
    EXPECT_EQ(MappedFile::Open(testing::TempDir(), mode).status().code(),
              absl::StatusCode::kInvalidArgument);  // a directory
  }
}

TEST(MappedFileTest, ParseLoadMode) {
  EXPECT_EQ(*ParseLoadMode("mmap"), LoadMode::kMmap);
  EXPECT_EQ(*ParseLoadMode("copy"), LoadMode::kHugePageCopy);
  EXPECT_EQ(ParseLoadMode("hugepages").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem
