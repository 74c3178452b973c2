// Debian's Abseil (bookworm, 20220623) is built with ABSL_OPTION_USE_STD_STRING_VIEW=0, so
// absl::string_view is its own type, not std::string_view. absl::StrCat, StrJoin,
// AsciiStrToLower and the heterogeneous lookup of absl::flat_hash_map<std::string, ...> do
// not accept a std::string_view; pass AbslView(sv) instead. (absl::StrFormat's %s does
// accept std::string_view.)
#pragma once

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tandem {

inline absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }

// An argument for absl::StrCat: a std::string_view as AbslView, anything else as it is.
template <typename T>
const T& StrCatArg(const T& v) {
  return v;
}
inline absl::string_view StrCatArg(std::string_view s) { return AbslView(s); }

// absl::StrCat of parts that may include std::string_views.
std::string StrCatViews(const auto&... parts) { return absl::StrCat(StrCatArg(parts)...); }

}  // namespace tandem
