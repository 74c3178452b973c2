// Optional per-device bearer tokens: a request must carry the metadata
// "authorization: Bearer <token>" with one of the configured tokens. Each token names a
// principal (the device it was issued to); sessions belong to it (worker.h).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tandem::cloud {

class BearerTokens {
 public:
  // One token per line, optionally followed by whitespace and the principal's name
  // ("TOKEN device-17"); surrounding whitespace is trimmed, empty lines and lines starting
  // with '#' are skipped. InvalidArgument if the file holds no token. A token without a
  // name gets "token:" + the first 16 hex digits of its SHA-256.
  static absl::StatusOr<BearerTokens> FromFile(const std::string& path);
  // InvalidArgument if `tokens` is empty or holds an empty token.
  static absl::StatusOr<BearerTokens> FromList(const std::vector<std::string>& tokens);
  // Tokens with their principals' names (empty name: derived as above).
  static absl::StatusOr<BearerTokens> FromNamedList(
      const std::vector<std::pair<std::string, std::string>>& token_and_name);

  // OK if `authorization` is "Bearer <token>" with a known token, else Unauthenticated.
  // Takes the same time whichever token matches or how much of it (digests compared in
  // constant time, every token checked).
  absl::Status Check(std::string_view authorization) const {
    return Authenticate(authorization).status();
  }
  // As Check, returning the matching token's principal.
  absl::StatusOr<std::string> Authenticate(std::string_view authorization) const;

  size_t size() const { return digests_.size(); }

 private:
  using Digest = std::array<uint8_t, 32>;  // SHA-256
  std::vector<Digest> digests_;
  std::vector<std::string> principals_;  // [i] names digests_[i]
};

}  // namespace tandem::cloud
