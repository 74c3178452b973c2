// "HOST:PORT" addresses as the daemons' flags give them.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace tandem {

// (host, port) of "HOST:PORT" ("[::1]:80" keeps its brackets); InvalidArgument unless
// the port is a number in [0, 65535] and the host is not empty.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address);

// `address` with its port replaced by `port` (e.g. the bound one when 0 was asked for).
std::string WithPort(const std::string& address, int port);

// True for names that can only reach this machine: "localhost" (and "*.localhost",
// RFC 6761), 127.0.0.0/8 and ::1 (bracketed or not). Hosts are compared without case.
// Used to decide whether a listener needs authentication and which Host headers name us.
bool IsLoopbackHost(std::string_view host);

}  // namespace tandem
