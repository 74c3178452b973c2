// TLS credentials for the edge-cloud link. TLS is the default; plaintext needs an
// explicit `insecure` choice, which callers log as a warning.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace tandem {

struct ServerTlsOptions {
  bool insecure = false;       // plaintext (tests, or TLS terminated elsewhere)
  std::string cert_file;       // PEM certificate chain of this server
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // if set: mutual TLS, only clients signed by this CA
};

struct ClientTlsOptions {
  bool insecure = false;
  std::string ca_file;      // PEM roots to verify the server (empty: system roots)
  std::string cert_file;    // client certificate for mutual TLS (optional)
  std::string key_file;     // its private key
  std::string server_name;  // expected name in the server certificate (optional)
};

// InvalidArgument for an incomplete option set; NotFound/PermissionDenied naming the file
// that cannot be read; InvalidArgument if a file holds no PEM block.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& options);

// A channel to `target` ("host:port") with `options`' credentials and, if given, the
// expected server name; `args` carries the caller's other channel settings.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const ClientTlsOptions& options,
                                                           grpc::ChannelArguments args);

// A device's bearer token from `path` (surrounding whitespace dropped); InvalidArgument
// if the file holds none, the reader's errors otherwise.
absl::StatusOr<std::string> ReadBearerToken(const std::string& path);

// Reads a whole (small) file, with errors naming it.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes = 1 << 20);

}  // namespace tandem
