#include "common/cli/default_model.h"

#include <filesystem>
#include <system_error>

namespace tandem::cli {
namespace {

namespace fs = std::filesystem;

// Whether `path` is `dir` or below it (both absolute and normalized).
bool IsUnder(const fs::path& path, const fs::path& dir) {
  auto p = path.begin();
  for (auto d = dir.begin(); d != dir.end(); ++d, ++p) {
    if (d->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *d) return false;
  }
  return true;
}

}  // namespace

std::string DefaultModelPath() {
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (error) return TANDEM_INSTALLED_MODEL;
  if (IsUnder(exe.lexically_normal(), fs::path(TANDEM_BUILD_DIR).lexically_normal())) {
    return TANDEM_SOURCE_MODEL;
  }
  const fs::path installed =
      exe.parent_path().parent_path() / TANDEM_DATA_SUBDIR / TANDEM_MODEL_FILE;
  return fs::exists(installed, error) ? installed.string() : TANDEM_INSTALLED_MODEL;
}

}  // namespace tandem::cli
