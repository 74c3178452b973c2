#include "edge/request_guard.h"

#include <fstream>
#include <sstream>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/util/host_port.h"

namespace tandem::edge {
namespace {

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Compares in time that depends only on the lengths, not on where the bytes differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

bool ValidPort(std::string_view digits) {
  int port = 0;
  return !digits.empty() && digits.size() <= 5 && absl::c_all_of(digits, absl::ascii_isdigit) &&
         absl::SimpleAtoi(View(digits), &port) && port > 0 && port <= 65535;
}

}  // namespace

std::string HostOfHostHeader(std::string_view h) {
  if (h.empty()) return "";
  if (h.front() == '[') {  // "[v6]" or "[v6]:port"
    const size_t close = h.find(']');
    if (close == std::string_view::npos) return "";
    std::string_view rest = h.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !ValidPort(rest.substr(1)))) return "";
    return std::string(h.substr(0, close + 1));
  }
  const size_t colon = h.find(':');
  if (colon == std::string_view::npos) return std::string(h);
  if (h.find(':', colon + 1) != std::string_view::npos || !ValidPort(h.substr(colon + 1))) {
    return "";  // a bare IPv6 address or a bad port
  }
  return std::string(h.substr(0, colon));
}

absl::StatusOr<std::string> HostOfOrigin(std::string_view origin) {
  const size_t sep = origin.find("://");
  const std::string_view scheme = sep == std::string_view::npos ? "" : origin.substr(0, sep);
  if (scheme != "http" && scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("origin \"", View(origin), "\" is not http(s)://HOST[:PORT]"));
  }
  const std::string_view authority = origin.substr(sep + 3);
  std::string host = HostOfHostHeader(authority);
  if (host.empty() || authority.find_first_of("/?#@") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("origin \"", View(origin), "\" is not http(s)://HOST[:PORT]"));
  }
  return host;
}

absl::Status AccessPolicy::Validate() const {
  for (const std::string& origin : allowed_origins) {
    if (!HostOfOrigin(origin).ok()) return HostOfOrigin(origin).status();
  }
  if (!loopback_listener && api_key.empty()) {
    return absl::InvalidArgumentError(
        "listening beyond loopback needs --api-key-file: any host that reaches the port could "
        "otherwise drive the model");
  }
  return absl::OkStatus();
}

bool RequestGuard::OriginAllowed(std::string_view origin) const {
  for (const std::string& allowed : policy_.allowed_origins) {
    if (absl::EqualsIgnoreCase(View(allowed), View(origin))) return true;
  }
  absl::StatusOr<std::string> host = HostOfOrigin(origin);
  return host.ok() && IsLoopbackHost(*host);
}

absl::Status RequestGuard::Check(const RequestHeaders& request, bool needs_key) const {
  if (request.has_origin && !OriginAllowed(request.origin)) {
    return absl::PermissionDeniedError(
        absl::StrCat("requests from origin \"", View(request.origin),
                     "\" are not allowed (loopback origins and --allow-origin only)"));
  }
  if (policy_.loopback_listener && !IsLoopbackHost(HostOfHostHeader(request.host))) {
    return absl::PermissionDeniedError(
        absl::StrCat("Host \"", View(request.host),
                     "\" is not a loopback name (this API listens on loopback only)"));
  }
  if (needs_key && !policy_.api_key.empty()) {
    constexpr std::string_view kScheme = "Bearer ";
    if (!absl::StartsWithIgnoreCase(View(request.authorization), View(kScheme))) {
      return absl::UnauthenticatedError("this API requires \"Authorization: Bearer <api key>\"");
    }
    if (!ConstantTimeEquals(request.authorization.substr(kScheme.size()), policy_.api_key)) {
      return absl::UnauthenticatedError("wrong API key");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadApiKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read API key file ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string key(absl::StripAsciiWhitespace(text.str()));
  if (key.empty())
    return absl::InvalidArgumentError(absl::StrCat("API key file ", path, " is empty"));
  return key;
}

}  // namespace tandem::edge
