// Certificates for the TLS tests, made in a temporary directory: the dev CA and its
// server/client certificates (deploy/make-dev-certs.sh), plus an expired server
// certificate signed by the same CA (OpenSSL APIs: the CLI cannot backdate).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace tandem::cloud {

struct CertPaths {
  std::string dir;
  std::string ca, server_cert, server_key, client_cert, client_key;
};

// Runs make-dev-certs.sh into `dir`.
absl::Status MakeDevCerts(const std::string& dir, CertPaths* paths);

// A certificate for "localhost" / 127.0.0.1, valid from two days ago until yesterday,
// signed by the CA in `ca`, written to cert_out and key_out (PEM).
absl::Status IssueExpiredServerCert(const CertPaths& ca, const std::string& cert_out,
                                    const std::string& key_out);

// The OpenSSL verification result (X509_V_OK, X509_V_ERR_CERT_HAS_EXPIRED, ...) of the
// certificate in `cert_file` against the CA certificate in `ca_file`, now, or ignoring
// validity periods.
int VerifyCertificate(const std::string& cert_file, const std::string& ca_file,
                      bool check_time = true);

}  // namespace tandem::cloud
