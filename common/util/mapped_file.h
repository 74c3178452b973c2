// Read-only memory view of a whole file (RAII): mapped (the default), or copied into
// anonymous memory backed by transparent huge pages.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tandem {

enum class LoadMode {
  // mmap: pages load on first touch and stay shared with the page cache and other
  // processes; only what is used is read (an edge touches just its layers).
  kMmap,
  // A private copy in 2 MiB transparent huge pages: costs a full read at start-up and the
  // memory is not shared, but streaming weights for decode gets ~20-30% more bandwidth
  // (fewer TLB misses; hardware prefetchers stop at 4 KiB page boundaries).
  kHugePageCopy,
};

// "mmap" | "copy"; InvalidArgument otherwise.
absl::StatusOr<LoadMode> ParseLoadMode(std::string_view name);

class MappedFile {
 public:
  // Maps or copies `path` read-only. Errors: NotFound / PermissionDenied / Internal with
  // the path and the system's reason in the message.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path,
                                                          LoadMode mode = LoadMode::kMmap);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  absl::Span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size, size_t mapped_size)
      : path_(std::move(path)), data_(data), size_(size), mapped_size_(mapped_size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
  size_t mapped_size_;  // what to munmap
};

}  // namespace tandem
