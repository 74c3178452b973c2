// Names of enum values from a table, so that every enum's name function is one line
// and stays in step with its declaration order.
#pragma once

#include <cstddef>
#include <string_view>

namespace tandem {

// names[value] for an enum whose values run 0, 1, 2, ... in declaration order;
// `fallback` for a value outside the table (e.g. read from a file).
template <typename Enum, size_t N>
constexpr std::string_view EnumName(Enum value, const std::string_view (&names)[N],
                                    std::string_view fallback = "unknown") {
  const auto index = static_cast<size_t>(value);
  return index < N ? names[index] : fallback;
}

}  // namespace tandem
