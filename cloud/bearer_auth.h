// Optional per-device bearer tokens: a request must carry the metadata
// "authorization: Bearer <token>" with one of the configured tokens.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tandem::cloud {

class BearerTokens {
 public:
  // One token per line; surrounding whitespace is trimmed, empty lines and lines starting
  // with '#' are skipped. InvalidArgument if the file holds no token.
  static absl::StatusOr<BearerTokens> FromFile(const std::string& path);
  // InvalidArgument if `tokens` is empty or holds an empty token.
  static absl::StatusOr<BearerTokens> FromList(const std::vector<std::string>& tokens);

  // OK if `authorization` is "Bearer <token>" with a known token, else Unauthenticated.
  // Takes the same time whichever token matches or how much of it (digests compared in
  // constant time, every token checked).
  absl::Status Check(std::string_view authorization) const;

  size_t size() const { return digests_.size(); }

 private:
  using Digest = std::array<uint8_t, 32>;  // SHA-256
  std::vector<Digest> digests_;
};

}  // namespace tandem::cloud
