// The HTTP API's access rules (request_guard.h): what a browser page on another origin,
// a DNS-rebinding attacker and a client without the API key get.
#include "edge/request_guard.h"

#include "common/util/host_port.h"
#include "gtest/gtest.h"

namespace tandem::edge {
namespace {

TEST(IsLoopbackHostTest, OnlyNamesThatReachThisMachine) {
  for (const char* host : {"localhost", "LOCALHOST", "app.localhost", "localhost.", "127.0.0.1",
                           "127.1.2.3", "::1", "[::1]"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host :
       {"", "0.0.0.0", "10.0.0.1", "127.0.0.1.evil.example", "localhost.evil", "evil-localhost",
        "127.1", "127.0.0.256", "::", "[::]", "example.com", "0x7f.0.0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(RequestGuardTest, HostHeaderMustNameLoopback) {
  RequestGuard guard(AccessPolicy{});
  EXPECT_TRUE(guard.Check({.host = "127.0.0.1:8080"}, true).ok());
  EXPECT_TRUE(guard.Check({.host = "localhost"}, true).ok());
  EXPECT_TRUE(guard.Check({.host = "[::1]:8080"}, true).ok());
  // DNS rebinding: the attacker's name resolves to 127.0.0.1 but stays in Host.
  EXPECT_EQ(guard.Check({.host = "rebind.evil.example:8080"}, true).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(guard.Check({.host = ""}, true).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(guard.Check({.host = "127.0.0.1:99999"}, true).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(RequestGuardTest, ForeignOriginsAreRefusedConfiguredOnesAllowed) {
  RequestGuard guard(AccessPolicy{.allowed_origins = {"https://app.example"}});
  auto from = [&](const char* origin) {
    return guard.Check({.host = "127.0.0.1:8080", .origin = origin, .has_origin = true}, true);
  };
  EXPECT_EQ(from("https://evil.example").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(from("null").code(), absl::StatusCode::kPermissionDenied);  // sandboxed page
  EXPECT_EQ(from("https://app.example.evil").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(from("https://app.example").ok());
  EXPECT_TRUE(from("http://localhost:5173").ok());
  EXPECT_TRUE(from("http://127.0.0.1:3000").ok());
  // No Origin header: not a browser page (curl, SDKs).
  EXPECT_TRUE(guard.Check({.host = "127.0.0.1:8080"}, true).ok());
}

TEST(RequestGuardTest, ApiKeyIsRequiredWhereConfigured) {
  RequestGuard guard(AccessPolicy{.loopback_listener = false, .api_key = "k-123"});
  EXPECT_EQ(guard.Check({.host = "edge.lan:8080"}, true).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(guard.Check({.host = "edge.lan", .authorization = "Bearer k-12"}, true).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(guard.Check({.host = "edge.lan", .authorization = "k-123"}, true).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(guard.Check({.host = "edge.lan", .authorization = "Bearer k-123"}, true).ok());
  EXPECT_TRUE(guard.Check({.host = "edge.lan"}, /*needs_key=*/false).ok());  // /health
}

TEST(AccessPolicyTest, BeyondLoopbackNeedsAKeyAndOriginsMustParse) {
  EXPECT_EQ(AccessPolicy{.loopback_listener = false}.Validate().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((AccessPolicy{.loopback_listener = false, .api_key = "k"}).Validate().ok());
  EXPECT_EQ(AccessPolicy{.allowed_origins = {"app.example"}}.Validate().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AccessPolicy{.allowed_origins = {"https://app.example/path"}}.Validate().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(AccessPolicy{.allowed_origins = {"https://app.example:8443"}}.Validate().ok());
}

}  // namespace
}  // namespace tandem::edge
