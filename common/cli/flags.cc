#include "common/cli/flags.h"

#include <iostream>
#include <map>

#include "common/cli/default_model.h"

namespace tandem::cli {

void AddModel(CLI::App& app, std::string& path, const std::string& help) {
  path = DefaultModelPath();
  app.add_option("-m,--model", path, help)->capture_default_str();
}

CLI::Option* AddBounded(CLI::App& app, const std::string& names, int32_t& value,
                        const std::string& help, int32_t min, int32_t max) {
  return app.add_option(names, value, help)->check(CLI::Range(min, max))->capture_default_str();
}

void AddThreads(CLI::App& app, int32_t& threads, const std::string& help) {
  AddBounded(app, "-t,--threads", threads, help, 1, kMaxThreads);
}

void AddContext(CLI::App& app, int32_t& positions, const std::string& help) {
  app.add_option("-c,--ctx-size,--max-context", positions, help)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

void AddLoadMode(CLI::App& app, LoadMode& mode) {
  const std::map<std::string, LoadMode> modes = {{"mmap", LoadMode::kMmap},
                                                 {"copy", LoadMode::kHugePageCopy}};
  app.add_option("--load", mode,
                 "mmap: map the file (shared, lazy); copy: read it into huge pages (faster "
                 "decode, private memory)")
      ->transform(CLI::CheckedTransformer(modes, CLI::ignore_case))
      ->default_str("mmap");
}

void AddSampling(CLI::App& app, SamplingParams& sampling, const std::string& context) {
  app.add_option("--temp", sampling.temperature, context + "Sampling temperature; 0 = greedy")
      ->capture_default_str();
  app.add_option("--top-k", sampling.top_k, context + "Top-k filter; 0 = off")
      ->capture_default_str();
  app.add_option("--top-p", sampling.top_p, context + "Nucleus filter; 1 = off")
      ->capture_default_str();
  app.add_option("--seed", sampling.seed, context + "Sampling seed (draws keyed to the position)")
      ->capture_default_str();
}

void AddClientTls(CLI::App& app, ClientTlsOptions& tls, std::string& auth_token_file) {
  app.add_option("--tls-ca", tls.ca_file, "PEM CA that signed the worker's certificate");
  app.add_option("--tls-cert", tls.cert_file, "PEM client certificate (mutual TLS)");
  app.add_option("--tls-key", tls.key_file, "PEM private key of the client certificate");
  app.add_option("--tls-server-name", tls.server_name, "Expected name in the worker's certificate");
  app.add_flag("--insecure", tls.insecure, "Plaintext gRPC (logs a warning)");
  app.add_option("--auth-token-file", auth_token_file, "File holding this device's bearer token");
}

int ExitCode(std::string_view program, const absl::Status& status) {
  if (status.ok()) return 0;
  std::cerr << program << ": error: " << status << "\n";
  return 1;
}

}  // namespace tandem::cli
