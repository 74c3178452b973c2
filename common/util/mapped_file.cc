#include "common/util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/errno_status.h"
#include "common/util/string_view_compat.h"

namespace tandem {
namespace {

// Reads all of `fd` into fresh anonymous memory advised to use transparent huge pages.
absl::StatusOr<const uint8_t*> CopyToHugePages(int fd, size_t size, size_t mapped_size,
                                               const std::string& path) {
  void* p =
      ::mmap(nullptr, mapped_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return ErrnoStatus(errno, absl::StrCat("cannot allocate a copy of ", path));
  ::madvise(p, mapped_size, MADV_HUGEPAGE);  // advice only: 4 KiB pages still work
  auto* bytes = static_cast<uint8_t*>(p);
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::pread(fd, bytes + done, std::min<size_t>(size - done, 64 << 20),
                              static_cast<off_t>(done));
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;  // 0: the file shrank while we read it
      ::munmap(p, mapped_size);
      return ErrnoStatus(err, absl::StrCat("cannot read ", path));
    }
    done += static_cast<size_t>(n);
  }
  ::mprotect(p, mapped_size, PROT_READ);
  return bytes;
}

}  // namespace

absl::StatusOr<LoadMode> ParseLoadMode(std::string_view name) {
  if (name == "mmap") return LoadMode::kMmap;
  if (name == "copy") return LoadMode::kHugePageCopy;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown load mode '", AbslView(name), "' (use mmap or copy)"));
}

absl::StatusOr<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path,
                                                             LoadMode mode) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("cannot open ", path));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, absl::StrCat("cannot stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > std::numeric_limits<size_t>::max()) {
    ::close(fd);  // a 32-bit device cannot map a file this large
    return absl::ResourceExhaustedError(absl::StrCat(path, " is too large to map"));
  }
  size_t size = static_cast<size_t>(st.st_size);
  const uint8_t* data = nullptr;
  size_t mapped_size = size;
  if (size > 0 && mode == LoadMode::kHugePageCopy) {
    constexpr size_t kHugePage = size_t{2} << 20;
    mapped_size = (size + kHugePage - 1) / kHugePage * kHugePage;
    absl::StatusOr<const uint8_t*> copy = CopyToHugePages(fd, size, mapped_size, path);
    ::close(fd);
    if (!copy.ok()) return copy.status();
    return std::unique_ptr<MappedFile>(new MappedFile(path, *copy, size, mapped_size));
  }
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, absl::StrCat("cannot mmap ", path));
    }
    data = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
  return std::unique_ptr<MappedFile>(new MappedFile(path, data, size, mapped_size));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), mapped_size_);
}

}  // namespace tandem
