// Replays the committed GGUF fuzz corpus through the parser with every compiler, so seeds
// and past crashers stay a regression suite: valid_* must parse, bad_* must fail cleanly,
// anything else (fuzzer finds) must do one or the other without crashing.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "common/gguf/gguf_file.h"
#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace tandem {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> CorpusFiles() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(TANDEM_GGUF_CORPUS_DIR)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

TEST(GgufCorpusTest, CorpusIsPopulated) {
  int valid = 0, bad = 0;
  for (const fs::path& p : CorpusFiles()) {
    valid += p.filename().string().starts_with("valid_");
    bad += p.filename().string().starts_with("bad_");
  }
  EXPECT_GE(valid, 10);
  EXPECT_GE(bad, 25);
}

TEST(GgufCorpusTest, EveryFileParsesOrFailsCleanly) {
  for (const fs::path& p : CorpusFiles()) {
    SCOPED_TRACE(p.filename().string());
    const std::vector<uint8_t> bytes = ReadAll(p);
    auto parsed = GgufFile::Parse(bytes);
    const std::string name = p.filename().string();
    if (name.starts_with("valid_")) {
      EXPECT_TRUE(parsed.ok()) << parsed.status();
    } else if (name.starts_with("bad_")) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
    } else if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
    }
    // The fuzz target's own invariant checks (trap on violation).
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
}

// Cutting a valid file anywhere before the end of its last tensor's data is an error.
TEST(GgufCorpusTest, EveryTruncationOfValidFilesFails) {
  for (const fs::path& p : CorpusFiles()) {
    if (!p.filename().string().starts_with("valid_")) continue;
    SCOPED_TRACE(p.filename().string());
    const std::vector<uint8_t> bytes = ReadAll(p);
    auto full = GgufFile::Parse(bytes);
    ASSERT_TRUE(full.ok()) << full.status();
    if ((*full)->tensors().empty()) continue;  // trailing padding is optional then
    size_t end = 0;
    for (const GgufTensorInfo& t : (*full)->tensors()) {
      end = std::max<size_t>(end, t.data.data() + t.data.size() - bytes.data());
    }
    for (size_t n = 0; n < end; ++n) {
      auto cut = GgufFile::Parse(absl::MakeConstSpan(bytes.data(), n));
      ASSERT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument) << n;
    }
  }
}

TEST(GgufCorpusTest, ValidFilesOpenFromDisk) {
  for (const fs::path& p : CorpusFiles()) {
    if (!p.filename().string().starts_with("valid_")) continue;
    SCOPED_TRACE(p.filename().string());
    auto f = GgufFile::Open(p.string());
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ((*f)->file_size(), fs::file_size(p));
  }
}

}  // namespace
}  // namespace tandem
