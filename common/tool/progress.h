// A one-line progress bar for long conversions, shown only on a terminal.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include "absl/strings/str_format.h"

namespace tandem {

// Returns a GgufWriter progress callback that redraws "label [####    ] i/n tensors" on
// `err`, or nullptr when disabled (not a terminal: the command's summary line is enough).
inline std::function<void(size_t, size_t)> TerminalProgress(bool enabled, std::ostream& err,
                                                            const char* label) {
  if (!enabled) return nullptr;
  return [&err, label](size_t done, size_t total) {
    constexpr size_t kWidth = 30;
    const size_t filled = total == 0 ? kWidth : done * kWidth / total;
    err << absl::StrFormat("\r%s [%s%s] %d/%d tensors", label, std::string(filled, '#'),
                           std::string(kWidth - filled, ' '), done, total);
    if (done == total) err << "\n";
    err.flush();
  };
}

}  // namespace tandem
