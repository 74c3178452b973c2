#include "cloud/bearer_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/net/tls.h"
#include "common/util/status_macros.h"
#include "common/util/string_view_compat.h"
#include "proto/wire.h"

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
  std::vector<std::pair<std::string, std::string>> tokens;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(line, absl::MaxSplits(absl::ByAnyChar(" \t"), 1));
    tokens.emplace_back(parts.first, absl::StripAsciiWhitespace(parts.second));
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError("auth tokens file " + path + " holds no token");
  }
  return FromNamedList(tokens);
}

absl::StatusOr<BearerTokens> BearerTokens::FromList(const std::vector<std::string>& tokens) {
  std::vector<std::pair<std::string, std::string>> named;
  for (const std::string& t : tokens) named.emplace_back(t, "");
  return FromNamedList(named);
}

absl::StatusOr<BearerTokens> BearerTokens::FromNamedList(
    const std::vector<std::pair<std::string, std::string>>& token_and_name) {
  if (token_and_name.empty()) return absl::InvalidArgumentError("no bearer tokens given");
  BearerTokens set;
  for (const auto& [token, name] : token_and_name) {
    if (token.empty()) return absl::InvalidArgumentError("empty bearer token");
    set.digests_.push_back(Sha256(token));
    if (!name.empty()) {
      set.principals_.push_back(name);
      continue;
    }
    std::string derived = "token:";
    for (int i = 0; i < 8; ++i) absl::StrAppendFormat(&derived, "%02x", set.digests_.back()[i]);
    set.principals_.push_back(std::move(derived));
  }
  return set;
}

absl::StatusOr<std::string> BearerTokens::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kScheme = wire::kBearerScheme;
  if (!absl::StartsWithIgnoreCase(AbslView(authorization), AbslView(kScheme))) {
    return absl::UnauthenticatedError("missing \"authorization: Bearer <token>\" metadata");
  }
  // Comparing digests keeps the comparison length-independent; CRYPTO_memcmp does not
  // stop at the first differing byte, and no token ends the loop early.
  const Digest presented = Sha256(authorization.substr(kScheme.size()));
  int matched = 0;
  size_t index = 0;
  for (size_t i = 0; i < digests_.size(); ++i) {
    const int equal = CRYPTO_memcmp(presented.data(), digests_[i].data(), digests_[i].size()) == 0;
    index = equal ? i : index;
    matched |= equal;
  }
  if (!matched) return absl::UnauthenticatedError("unknown bearer token");
  return principals_[index];
}

}  // namespace tandem::cloud
