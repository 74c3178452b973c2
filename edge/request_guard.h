// Who may call the local HTTP API. The threat is the browser on the same machine: any web
// page can make it POST to http://127.0.0.1:8080 (a text/plain "simple" request needs no
// CORS preflight), and DNS rebinding gives a page a host name that resolves to 127.0.0.1.
// - Origin: browsers send it on every cross-origin POST and on fetches. It must be a
//   loopback origin or one given with --allow-origin; requests without it are apps
//   (curl, SDKs), which the browser threat does not cover.
// - Host: while the API listens on loopback, it must name a loopback host (a rebound
//   attacker name fails here even for same-origin requests from the rebound page).
// - API key: when configured (required when listening beyond loopback),
//   "Authorization: Bearer <key>" on every route but /health.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tandem::edge {

struct AccessPolicy {
  bool loopback_listener = true;             // the API listens on a loopback address
  std::vector<std::string> allowed_origins;  // "scheme://host[:port]", compared exactly
  std::string api_key;                       // empty: no key required

  // InvalidArgument for a malformed origin or a non-loopback listener without a key.
  absl::Status Validate() const;
};

// The parts of a request the guard looks at (absent headers are empty).
struct RequestHeaders {
  std::string_view host;
  std::string_view origin;
  bool has_origin = false;
  std::string_view authorization;
};

class RequestGuard {
 public:
  explicit RequestGuard(AccessPolicy policy) : policy_(std::move(policy)) {}

  // OK, PermissionDenied (Host or Origin not allowed) or Unauthenticated (missing or wrong
  // key; only if `needs_key`).
  absl::Status Check(const RequestHeaders& request, bool needs_key) const;
  // Whether a browser page of `origin` may call the API (loopback or configured).
  bool OriginAllowed(std::string_view origin) const;

 private:
  AccessPolicy policy_;
};

// The host of a Host header ("name", "name:port", "[v6]:port"); empty if malformed.
std::string HostOfHostHeader(std::string_view host_header);
// The host of an origin "scheme://host[:port]"; InvalidArgument if it is not one.
absl::StatusOr<std::string> HostOfOrigin(std::string_view origin);
// Reads a file holding one API key (surrounding whitespace trimmed); InvalidArgument if
// it is empty.
absl::StatusOr<std::string> ReadApiKeyFile(const std::string& path);

}  // namespace tandem::edge
