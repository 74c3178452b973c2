// A failed system call as a status whose code tells the caller what to do.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace tandem {

// "<what>: <strerror(err)>" as NotFound (ENOENT), PermissionDenied (EACCES, EPERM, EROFS),
// ResourceExhausted (ENOSPC, EDQUOT), or Internal.
absl::Status ErrnoStatus(int err, std::string_view what);

}  // namespace tandem
