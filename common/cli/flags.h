// Command-line flags that several binaries share (tandem, tandem-edge, tandem-cloud,
// tandem-tune), declared once so that they are spelled, ranged and documented alike.
// Flags are still parsed only in each main and turned into validated config structs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "common/net/tls.h"
#include "common/sampler/sampler.h"
#include "common/util/mapped_file.h"

namespace tandem::cli {

// Compute threads a binary accepts (ThreadPool and the edge's slots take no more).
inline constexpr int32_t kMaxThreads = 256;

// -m,--model, defaulting to the default model (default_model.h).
void AddModel(CLI::App& app, std::string& path, const std::string& help = "GGUF model");

// An integer option limited to [min, max], its default shown in --help.
CLI::Option* AddBounded(CLI::App& app, const std::string& names, int32_t& value,
                        const std::string& help, int32_t min, int32_t max);

// -t,--threads in [1, kMaxThreads].
void AddThreads(CLI::App& app, int32_t& threads, const std::string& help = "Compute threads");

// The context size (KV-cache positions), spelled alike in every binary: -c, --ctx-size (as
// llama.cpp) or --max-context.
void AddContext(CLI::App& app, int32_t& positions, const std::string& help);

// --load mmap|copy.
void AddLoadMode(CLI::App& app, LoadMode& mode);

// --temp, --top-k, --top-p, --seed; `context` prefixes each help text (e.g. "One-shot mode: ").
void AddSampling(CLI::App& app, SamplingParams& sampling, const std::string& context = "");

// The client side of the edge-cloud link: --tls-ca, --tls-cert, --tls-key,
// --tls-server-name, --insecure and --auth-token-file.
void AddClientTls(CLI::App& app, ClientTlsOptions& tls, std::string& auth_token_file);

// The end of a binary's main: `status` on stderr after "<program>: error: " unless it is
// OK; the exit code (0 or 1).
int ExitCode(std::string_view program, const absl::Status& status);

}  // namespace tandem::cli
