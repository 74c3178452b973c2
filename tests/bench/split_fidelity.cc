// split_fidelity: how faithfully each hidden-state codec carries the model across the cut.
// For every split K in 1..N-1 and every codec, against the unsplit model's greedy
// continuations of story prompts: teacher-forced top-1 agreement, mean and max
// KL(unsplit || split) of the next-token distributions, free-running identical
// continuations, and bytes per token at the cut. Prints a Markdown table (or one JSON
// object per row with --json). Deterministic; the thread count changes only the speed.
//
//   split_fidelity [--model PATH] [--prompts 24] [--tokens 64] [--threads 2] [--json] [--check]
//
// --check fails (exit 1) unless every row meets the targets the README promises:
// teacher-forced agreement >= 99% for f16 and q8, >= 97% for q4 (f32 is always checked to
// be bit-identical). ctest runs it that way (split_fidelity_targets).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/codec/codec_kind.h"
#include "common/codec/hidden_codec.h"
#include "common/model/llama_model.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/status_macros.h"
#include "common/util/thread_pool.h"
#include "tests/bench/fidelity/split_eval.h"

namespace tandem {
namespace {

// TinyStories-like beginnings, varied in characters, places and sentence shape.
constexpr const char* kPrompts[] = {
    "Once upon a time, there was a little girl named Lily.",
    "One day, a small dog found a big red ball in the park.",
    "Tom and his mom went to the store to buy some milk.",
    "There was a happy cat who liked to sleep in the sun.",
    "Once upon a time, in a big forest, there lived a brave little bird.",
    "Sam had a new toy car. He wanted to show it to his friend",
    "The sun was shining and the sky was blue. Anna went outside to play",
    "Ben was sad because his kite was stuck in a tree.",
    "Mia loved to draw pictures of flowers. One day, she",
    "A little boy named Tim wanted to go to the beach with his dad.",
    "Once there was a tiny fish who lived in a big blue sea.",
    "The old man had a garden full of carrots and beans.",
    "Lucy and Max were best friends. They liked to play hide and seek",
    "It was a cold winter day. The snow was white and soft.",
    "Once upon a time, a princess lost her shiny crown.",
    "The bunny hopped across the field to find something to eat.",
    "Jack saw a big truck on the road. It was loud and",
    "Sue did not want to take a bath. Her mom said,",
    "In a small house near the river, there lived a kind old lady.",
    "The bear was very hungry, so he looked for honey",
    "Every morning, Lily helped her mom make breakfast.",
    "A funny monkey climbed up the tall tree and",
    "Tim found a strange box under his bed. He opened it and",
    "The little train went up the hill. It said,",
};

struct Config {
  std::string model_path = TANDEM_DEFAULT_MODEL;
  int32_t prompts = static_cast<int32_t>(std::size(kPrompts));
  int32_t tokens = 64;
  int32_t threads = 2;
  bool json = false;
  bool check = false;
  std::vector<CodecKind> codecs{kAllCodecKinds.begin(), kAllCodecKinds.end()};
};

// The README's agreement targets (issue 3); f32 must be bit-exact instead.
double AgreementTarget(CodecKind kind) {
  if (kind == CodecKind::kQ4) return 0.97;
  return kind == CodecKind::kF32 ? 1.0 : 0.99;
}

void PrintTableHeader() {
  std::printf(
      "| K | codec | bytes/token | bits/value | agreement | identical runs | tokens to 1st diff "
      "| mean KL (nats) | max KL (nats) |\n"
      "|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
}

void PrintTableRow(const FidelityRow& r) {
  std::printf("| %d | %s | %zu | %.2f | %.2f%% | %d/%d | %.1f | %.2e | %.2e |\n", r.split,
              r.codec.c_str(), r.bytes_per_token, r.bits_per_value, 100.0 * r.agreement,
              static_cast<int>(r.identical * r.prompts + 0.5), r.prompts, r.mean_tokens_to_diverge,
              r.mean_kl, r.max_kl);
}

void PrintJsonRow(const FidelityRow& r) {
  std::printf(
      "{\"split\": %d, \"codec\": \"%s\", \"prompts\": %d, \"positions\": %d, "
      "\"bytes_per_token\": %zu, \"bits_per_value\": %.4f, \"agreement\": %.6f, "
      "\"identical_fraction\": %.6f, \"mean_tokens_to_diverge\": %.3f, \"mean_kl\": %.6e, "
      "\"max_kl\": %.6e, \"bit_exact\": %s}\n",
      r.split, r.codec.c_str(), r.prompts, r.positions, r.bytes_per_token, r.bits_per_value,
      r.agreement, r.identical, r.mean_tokens_to_diverge, r.mean_kl, r.max_kl,
      r.bit_exact ? "true" : "false");
}

absl::Status Run(const Config& config) {
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LlamaModel::Load(config.model_path));
  ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromGguf(model->gguf()));
  std::vector<std::vector<int32_t>> prompts;
  for (int32_t i = 0; i < config.prompts; ++i) {
    prompts.push_back(tokenizer.Encode(kPrompts[i], /*add_bos=*/true));
  }
  ThreadPool pool(config.threads);
  ASSIGN_OR_RETURN(std::unique_ptr<SplitEvaluator> eval,
                   SplitEvaluator::Create(*model, std::move(prompts), config.tokens, pool));

  const LlamaHparams& hp = model->hparams();
  if (!config.json) {
    std::printf("%s: dim %d, %d layers; %d prompts x %d tokens\n\n", config.model_path.c_str(),
                hp.dim, hp.n_layers, config.prompts, config.tokens);
    PrintTableHeader();
  }
  std::vector<std::string> missed;
  for (int32_t k = 1; k < hp.n_layers; ++k) {
    for (CodecKind kind : config.codecs) {
      ASSIGN_OR_RETURN(FidelityRow row,
                       eval->Measure(k, GetHiddenCodec(kind), std::string(CodecKindName(kind))));
      config.json ? PrintJsonRow(row) : PrintTableRow(row);
      std::fflush(stdout);
      // The master invariant: a lossless cut changes nothing.
      if (kind == CodecKind::kF32 && !row.bit_exact) {
        return absl::InternalError(
            absl::StrFormat("f32 at K=%d is not bit-identical to the unsplit model", k));
      }
      if (config.check && row.agreement < AgreementTarget(kind)) {
        missed.push_back(absl::StrFormat("%s at K=%d: %.2f%% < %.0f%%", row.codec, k,
                                         100 * row.agreement, 100 * AgreementTarget(kind)));
      }
    }
  }
  if (!missed.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("below the README's agreement targets: ", absl::StrJoin(missed, "; ")));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  CLI::App app{"Hidden-state codec fidelity of the split pipeline against the unsplit model"};
  tandem::Config config;
  std::vector<std::string> codec_names;
  app.add_option("-m,--model", config.model_path, "GGUF model")->capture_default_str();
  app.add_option("--prompts", config.prompts, "Number of built-in story prompts")
      ->check(CLI::Range(1, static_cast<int32_t>(std::size(tandem::kPrompts))))
      ->capture_default_str();
  app.add_option("--tokens", config.tokens, "Greedy tokens per prompt")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  app.add_option("-t,--threads", config.threads, "Worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--codecs", codec_names, "Codecs to measure (default: f32 f16 q8 q4)")
      ->delimiter(',');
  app.add_flag("--json", config.json, "One JSON object per row instead of the table");
  app.add_flag("--check", config.check,
               "Fail unless agreement meets the README's targets (f16, q8 >= 99%, q4 >= 97%)");
  CLI11_PARSE(app, argc, argv);

  if (!codec_names.empty()) {
    config.codecs.clear();
    for (const std::string& name : codec_names) {
      absl::StatusOr<tandem::CodecKind> kind = tandem::ParseCodecKind(name);
      if (!kind.ok()) {
        std::cerr << "split_fidelity: " << kind.status().message() << "\n";
        return 2;
      }
      config.codecs.push_back(*kind);
    }
  }
  if (const absl::Status status = tandem::Run(config); !status.ok()) {
    std::cerr << "split_fidelity: " << status << "\n";
    return 1;
  }
  return 0;
}
