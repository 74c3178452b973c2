#include "tests/unit/cloud/test_certs.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"

namespace tandem::cloud {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

}  // namespace

absl::Status MakeDevCerts(const std::string& dir, CertPaths* paths) {
  const std::string command = absl::StrCat("bash '", TANDEM_SOURCE_DIR,
                                           "/deploy/make-dev-certs.sh' '", dir, "' >/dev/null");
  if (std::system(command.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("failed: ", command));
  }
  *paths = CertPaths{.dir = dir,
                     .ca = dir + "/ca.pem",
                     .server_cert = dir + "/server.pem",
                     .server_key = dir + "/server.key",
                     .client_cert = dir + "/client.pem",
                     .client_key = dir + "/client.key"};
  return absl::OkStatus();
}

absl::Status IssueExpiredServerCert(const CertPaths& ca, const std::string& cert_out,
                                    const std::string& key_out) {
  File ca_cert_file(fopen(ca.ca.c_str(), "r"));
  File ca_key_file(fopen((ca.dir + "/ca.key").c_str(), "r"));
  if (!ca_cert_file || !ca_key_file) return absl::NotFoundError("cannot read the CA files");
  std::unique_ptr<X509, decltype(&X509_free)> ca_cert(
      PEM_read_X509(ca_cert_file.get(), nullptr, nullptr, nullptr), X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> ca_key(
      PEM_read_PrivateKey(ca_key_file.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!ca_cert || !ca_key || !key || !cert) return absl::InternalError("OpenSSL setup failed");

  X509_set_version(cert.get(), 2);  // v3
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4242);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -2 * 86400L);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), -1 * 86400L);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("tandem-cloud"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
                            std::pair{NID_ext_key_usage, "serverAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) return absl::InternalError("cannot make a certificate extension");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    return absl::InternalError("cannot sign the certificate");
  }
  File cert_file(fopen(cert_out.c_str(), "w"));
  File key_file(fopen(key_out.c_str(), "w"));
  if (!cert_file || !key_file || PEM_write_X509(cert_file.get(), cert.get()) == 0 ||
      PEM_write_PrivateKey(key_file.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 0) {
    return absl::InternalError("cannot write the expired certificate");
  }
  return absl::OkStatus();
}

int VerifyCertificate(const std::string& cert_file, const std::string& ca_file, bool check_time) {
  File cert_in(fopen(cert_file.c_str(), "r"));
  File ca_in(fopen(ca_file.c_str(), "r"));
  if (!cert_in || !ca_in) return -1;
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_X509(cert_in.get(), nullptr, nullptr, nullptr), X509_free);
  std::unique_ptr<X509, decltype(&X509_free)> ca(
      PEM_read_X509(ca_in.get(), nullptr, nullptr, nullptr), X509_free);
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  if (!cert || !ca || !store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    return -1;
  }
  if (!check_time) {
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_NO_CHECK_TIME);
  }
  X509_verify_cert(ctx.get());
  return X509_STORE_CTX_get_error(ctx.get());
}

}  // namespace tandem::cloud
