// Debian's Abseil (bookworm, 20220623) is built with ABSL_OPTION_USE_STD_STRING_VIEW=0, so
// absl::string_view is its own type, not std::string_view. absl::StrCat, StrJoin,
// AsciiStrToLower and the heterogeneous lookup of absl::flat_hash_map<std::string, ...> do
// not accept a std::string_view; pass AbslView(sv) instead. (absl::StrFormat's %s does
// accept std::string_view.)
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace tandem {

inline absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace tandem
