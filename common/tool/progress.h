// A one-line progress display for long conversions, shown only on a terminal.
#pragma once

#include <functional>
#include <ostream>

#include "absl/strings/str_format.h"

namespace tandem {

// Returns a GgufWriter progress callback that redraws "label: i/n tensors" on `err`.
inline std::function<void(size_t, size_t)> TerminalProgress(bool enabled, std::ostream& err,
                                                            const char* label) {
  if (!enabled) return nullptr;
  return [&err, label](size_t done, size_t total) {
    err << absl::StrFormat("\r%s: %d/%d tensors", label, done, total);
    if (done == total) err << "\n";
    err.flush();
  };
}

}  // namespace tandem
