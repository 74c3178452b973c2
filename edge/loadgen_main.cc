// tandem-loadgen: N concurrent sessions against one tandem-cloud worker; one JSON object
// with the throughput and step latencies on stdout (see edge/loadgen.h).
//
//   tandem-loadgen --cloud HOST:PORT [--tls-ca ... | --insecure] --model M --split K
//       --sessions N --prompt-tokens P --gen-tokens G [--token-deadline-ms D] --json
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "common/cli/flags.h"
#include "common/codec/codec_kind.h"
#include "common/net/tls.h"
#include "common/util/status_macros.h"
#include "edge/edge_model.h"
#include "edge/grpc_cloud_link.h"
#include "edge/loadgen.h"

namespace {

using namespace tandem::edge;

struct Flags {
  std::string cloud;
  std::string model_path;
  int32_t split = 1;
  std::string codec = "q8";
  double token_deadline_ms = 0;  // 0: none declared
  double step_timeout_seconds = 60;
  std::string auth_token_file;
  bool json = false;
  GrpcLinkOptions link;
  LoadgenConfig load;
};

absl::Status Run(Flags& flags) {
  ASSIGN_OR_RETURN(flags.load.codec, tandem::ParseCodecKind(flags.codec));
  if (flags.token_deadline_ms < 0) {
    return absl::InvalidArgumentError("--token-deadline-ms must not be negative");
  }
  if (flags.token_deadline_ms > 0) {
    flags.load.token_deadline = absl::Milliseconds(flags.token_deadline_ms);
  }
  flags.load.step_timeout = absl::Seconds(flags.step_timeout_seconds);
  RETURN_IF_ERROR(flags.load.Validate());
  flags.link.target = flags.cloud;
  if (!flags.auth_token_file.empty()) {
    ASSIGN_OR_RETURN(flags.link.auth_token, tandem::ReadBearerToken(flags.auth_token_file));
  }
  RETURN_IF_ERROR(flags.link.Validate());
  ASSIGN_OR_RETURN(auto model, EdgeModel::Load(flags.model_path, flags.split));
  ASSIGN_OR_RETURN(auto link, GrpcCloudLink::Create(flags.link));
  ASSIGN_OR_RETURN(LoadgenResult result, RunLoad(*model, *link, flags.load));
  if (flags.json) {
    std::cout << result.ToJson() << "\n";
  } else {
    std::cout << "sessions " << result.sessions << " (admitted " << result.admitted << ", refused "
              << result.refused << ", failed " << result.failed << ")\n"
              << "aggregate " << result.aggregate_tok_s << " tok/s, decode step p50 "
              << result.p50_step_ms << " ms, p99 " << result.p99_step_ms << " ms, "
              << result.deadline_misses << " deadline misses\n";
  }
  if (!result.first_error.empty()) {
    std::cerr << "tandem-loadgen: " << result.failed
              << " sessions failed; first error: " << result.first_error << "\n";
    return absl::UnavailableError("sessions failed");
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"tandem-loadgen: concurrent edge sessions against one tandem-cloud worker"};
  app.add_option("--cloud", flags.cloud, "HOST:PORT of the tandem-cloud worker")->required();
  app.add_option("-m,--model", flags.model_path,
                 "GGUF model (the whole model or an edge shard): the hidden states sent are "
                 "its layers [0, K) of a fixed token sequence")
      ->required();
  app.add_option("--split", flags.split, "K: the sessions' split layer")->capture_default_str();
  app.add_option("--sessions", flags.load.sessions, "Concurrent sessions")->capture_default_str();
  app.add_option("--prompt-tokens", flags.load.prompt_tokens, "Prompt positions per session")
      ->capture_default_str();
  app.add_option("--gen-tokens", flags.load.gen_tokens, "Tokens generated per session")
      ->capture_default_str();
  app.add_option("--token-deadline-ms", flags.token_deadline_ms,
                 "Per-token latency target declared in Hello (0: none)")
      ->capture_default_str();
  app.add_option("--codec", flags.codec, "Hidden-state codec: f32, f16, q8, q4")
      ->capture_default_str();
  app.add_option("--seed", flags.load.seed, "Seed of the token sequence and session ids")
      ->capture_default_str();
  app.add_option("--step-timeout-seconds", flags.step_timeout_seconds,
                 "Deadline for each answer from the worker")
      ->capture_default_str();
  tandem::cli::AddClientTls(app, flags.link.tls, flags.auth_token_file);
  app.add_flag("--json", flags.json, "One JSON object on stdout");
  CLI11_PARSE(app, argc, argv);
  return tandem::cli::ExitCode("tandem-loadgen", Run(flags));
}
