#include "common/util/host_port.h"

#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tandem {

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("expected HOST:PORT, got \"", address, "\""));
  }
  return std::make_pair(address.substr(0, colon), port);
}

std::string WithPort(const std::string& address, int port) {
  const size_t colon = address.rfind(':');
  return absl::StrCat(colon == std::string::npos ? address : address.substr(0, colon), ":", port);
}

bool IsLoopbackHost(std::string_view host_view) {
  std::string host = absl::AsciiStrToLower(absl::string_view(host_view.data(), host_view.size()));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!host.empty() && host.back() == '.') host.pop_back();  // "localhost." is absolute
  if (host == "localhost" || absl::EndsWith(host, ".localhost")) return true;
  if (host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  // 127.a.b.c in dotted-quad form only (no "127.1" shorthands, no hex).
  std::vector<absl::string_view> parts = absl::StrSplit(host, '.');
  if (parts.size() != 4 || parts[0] != "127") return false;
  for (absl::string_view part : parts) {
    int v = 0;
    if (part.empty() || part.size() > 3 || !absl::c_all_of(part, absl::ascii_isdigit) ||
        !absl::SimpleAtoi(part, &v) || v > 255) {
      return false;
    }
  }
  return true;
}

}  // namespace tandem
