// Strict reading of JSON request bodies (nlohmann::json without exceptions): the body must
// be one JSON object, valid UTF-8, nested at most `max_depth` levels.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tandem::edge {

// InvalidArgument with a client-facing message for anything else.
absl::StatusOr<nlohmann::json> ParseJsonObject(std::string_view body, int max_depth = 32);

// Serializes `value` compactly; invalid UTF-8 in strings becomes U+FFFD (never throws).
std::string DumpJson(const nlohmann::json& value);
std::string DumpJson(const nlohmann::ordered_json& value);

}  // namespace tandem::edge
