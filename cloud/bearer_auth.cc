#include "cloud/bearer_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/net/tls.h"
#include "common/util/status_macros.h"
#include "common/util/string_view_compat.h"

namespace tandem::cloud {
namespace {

std::array<uint8_t, 32> Sha256(std::string_view data) {
  std::array<uint8_t, 32> digest;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

}  // namespace

absl::StatusOr<BearerTokens> BearerTokens::FromFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  std::vector<std::string> tokens;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    tokens.emplace_back(line);
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError("auth tokens file " + path + " holds no token");
  }
  return FromList(tokens);
}

absl::StatusOr<BearerTokens> BearerTokens::FromList(const std::vector<std::string>& tokens) {
  if (tokens.empty()) return absl::InvalidArgumentError("no bearer tokens given");
  BearerTokens set;
  for (const std::string& t : tokens) {
    if (t.empty()) return absl::InvalidArgumentError("empty bearer token");
    set.digests_.push_back(Sha256(t));
  }
  return set;
}

absl::Status BearerTokens::Check(std::string_view authorization) const {
  constexpr std::string_view kScheme = "Bearer ";
  if (!absl::StartsWithIgnoreCase(AbslView(authorization), AbslView(kScheme))) {
    return absl::UnauthenticatedError("missing \"authorization: Bearer <token>\" metadata");
  }
  // Comparing digests keeps the comparison length-independent; CRYPTO_memcmp does not
  // stop at the first differing byte, and no token ends the loop early.
  const Digest presented = Sha256(authorization.substr(kScheme.size()));
  int matched = 0;
  for (const Digest& d : digests_) {
    matched |= CRYPTO_memcmp(presented.data(), d.data(), d.size()) == 0 ? 1 : 0;
  }
  if (!matched) return absl::UnauthenticatedError("unknown bearer token");
  return absl::OkStatus();
}

}  // namespace tandem::cloud
