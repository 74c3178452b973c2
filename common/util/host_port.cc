#include "common/util/host_port.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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

}  // namespace tandem
