// The `tandem` model tool's subcommands. Each takes a validated config struct (built from
// flags in main.cc) and writes results to `out`, diagnostics and timings to `err`.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "common/sampler/sampler.h"
#include "common/util/mapped_file.h"

namespace tandem {

struct GenerateConfig {
  std::string model_path;
  std::string prompt;
  int32_t n_predict = 128;  // tokens to generate; generation also stops at end-of-text
  int32_t context = 0;      // 0: prompt + n_predict, capped at the model's context length
  int32_t threads = 2;
  SamplingParams sampling;
  LoadMode load_mode = LoadMode::kMmap;
  bool json = false;     // one JSON object (prompt_ids, ids, text, timings) instead of text
  int32_t logprobs = 0;  // with json: the top-N [id, logprob] of each generated token
};
absl::Status RunGenerate(const GenerateConfig& config, std::ostream& out, std::ostream& err);

struct BenchConfig {
  std::string model_path;
  int32_t threads = 2;
  int32_t prompt_tokens = 64;
  int32_t gen_tokens = 64;
  int32_t repetitions = 5;
  bool json = false;
  LoadMode load_mode = LoadMode::kMmap;
};
absl::Status RunBench(const BenchConfig& config, std::ostream& out, std::ostream& err);

struct QuantizeConfig {
  std::string input_path;
  std::string output_path;
  std::string type;  // a preset (q4_k_m, ...) or plain type, see ParseQuantPreset
  int32_t threads = 2;
  bool show_progress = false;
};
absl::Status RunQuantize(const QuantizeConfig& config, std::ostream& out, std::ostream& err);

struct SplitConfig {
  std::string input_path;
  int32_t split = 0;  // K: the edge shard holds layers [0, K), the cloud shard [K, N)
  std::string edge_output_path;
  std::string cloud_output_path;
  std::string edge_type;  // q4_0 | q8_0 | f16 | f32; empty: keep the source's types
  int32_t threads = 2;
  bool show_progress = false;
};
absl::Status RunSplit(const SplitConfig& config, std::ostream& out, std::ostream& err);

struct SynthConfig {
  std::string shape;  // a preset of synth_shapes.h
  std::string arch;   // llama | qwen2 | qwen3; empty: the shape's
  std::string type;   // storage type of the matrices
  std::string output_path;
  // llama2.c tokenizer.bin or Hugging Face tokenizer.json (BPE); empty: a generated
  // byte-level vocabulary.
  std::string vocab_path;
  std::string tokenizer_config_path;  // tokenizer_config.json (with a tokenizer.json)
  uint64_t seed = 1;
  bool show_progress = false;
};
absl::Status RunSynth(const SynthConfig& config, std::ostream& out, std::ostream& err);

struct TokenizeConfig {
  std::string model_path;
  std::string prompt;     // -p
  std::string file_path;  // -f: the text from a file instead
  std::string chat_path;  // --chat: an OpenAI-style messages array, rendered with the template
  bool ids_only = false;  // --ids: one JSON array of ids
  bool no_bos = false;    // --no-bos: never add BOS to user text
  bool jsonl = false;     // --jsonl: JSON lines in, ids out (the oracle protocol)
  bool timing = false;    // --timing: bytes, tokens and time on stderr
};
absl::Status RunTokenize(const TokenizeConfig& config, std::ostream& out, std::ostream& err);

struct InfoConfig {
  std::string model_path;
  bool tensors = false;  // list every tensor
};
absl::Status RunInfo(const InfoConfig& config, std::ostream& out, std::ostream& err);

struct PerplexityConfig {
  std::string model_path;
  std::string text_path;
  int32_t context = 128;  // window size in tokens
  int32_t threads = 2;
};
absl::Status RunPerplexity(const PerplexityConfig& config, std::ostream& out, std::ostream& err);

}  // namespace tandem
