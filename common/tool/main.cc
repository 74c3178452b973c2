// `tandem`: the model tool. Flags are parsed here only and turned into config structs;
// every command reports errors as absl::Status, printed as one line with a non-zero exit.
#include <unistd.h>

#include <iostream>
#include <map>
#include <string>

#include "CLI/CLI.hpp"
#include "common/cli/flags.h"
#include "common/tensor/ggml_type.h"
#include "common/tool/commands.h"
#include "common/tool/synth_shapes.h"

int main(int argc, char** argv) {
  CLI::App app{"tandem: run, benchmark and convert llama-family GGUF models"};
  app.require_subcommand(1);
  const bool tty = isatty(STDERR_FILENO);

  tandem::GenerateConfig gen;
  CLI::App* generate = app.add_subcommand("generate", "Continue a prompt; prints only the text");
  tandem::cli::AddModel(*generate, gen.model_path);
  generate->add_option("-p,--prompt", gen.prompt, "Prompt text")->required();
  tandem::cli::AddBounded(*generate, "-n,--n-predict", gen.n_predict, "Tokens to generate", 0,
                          1 << 20);
  tandem::cli::AddContext(*generate, gen.context, "Context size (0: prompt + n)");
  generate->add_flag("--json", gen.json, "Print one JSON object: prompt_ids, ids, text, timings");
  generate
      ->add_option("--logprobs", gen.logprobs,
                   "With --json: the top-N [id, logprob] of each generated token")
      ->check(CLI::Range(0, 100));
  tandem::cli::AddSampling(*generate, gen.sampling);
  tandem::cli::AddThreads(*generate, gen.threads);
  tandem::cli::AddLoadMode(*generate, gen.load_mode);

  tandem::BenchConfig bench;
  CLI::App* bench_cmd = app.add_subcommand("bench", "Prompt and decode speed, peak memory");
  tandem::cli::AddModel(*bench_cmd, bench.model_path);
  tandem::cli::AddBounded(*bench_cmd, "-p,--prompt-tokens", bench.prompt_tokens, "Prompt length", 1,
                          1 << 20);
  tandem::cli::AddBounded(*bench_cmd, "-n,--gen-tokens", bench.gen_tokens, "Tokens to decode", 1,
                          1 << 20);
  tandem::cli::AddBounded(*bench_cmd, "-r,--repetitions", bench.repetitions,
                          "Repetitions (median reported)", 1, 1000);
  bench_cmd->add_flag("--json", bench.json, "One JSON object on stdout");
  tandem::cli::AddThreads(*bench_cmd, bench.threads);
  tandem::cli::AddLoadMode(*bench_cmd, bench.load_mode);

  tandem::QuantizeConfig quant;
  quant.show_progress = tty;
  CLI::App* quantize = app.add_subcommand("quantize", "Convert a model's weight matrices");
  quantize->add_option("input", quant.input_path, "Input GGUF")->required();
  quantize->add_option("output", quant.output_path, "Output GGUF")->required();
  quantize
      ->add_option(
          "--type", quant.type,
          "q4_k_m | q4_k_s | q5_k_m | q6_k | q8_0 | q5_1 | q5_0 | q4_1 | q4_0 | bf16 | f16 | f32")
      ->required();
  tandem::cli::AddThreads(*quantize, quant.threads);

  tandem::SplitConfig split;
  split.show_progress = tty;
  CLI::App* split_cmd =
      app.add_subcommand("split", "Write an edge shard (layers [0, K)) and a cloud shard");
  split_cmd->add_option("input", split.input_path, "Input GGUF (the whole model)")->required();
  split_cmd->add_option("--at", split.split, "K: the edge runs layers [0, K)")->required();
  split_cmd->add_option("--edge-out", split.edge_output_path, "Edge shard GGUF")->required();
  split_cmd->add_option("--cloud-out", split.cloud_output_path, "Cloud shard GGUF")->required();
  split_cmd->add_option("--edge-type", split.edge_type,
                        "Re-quantize the edge shard: q4_0 | q8_0 | f16 (default: keep)");
  tandem::cli::AddThreads(*split_cmd, split.threads);

  tandem::SynthConfig synth;
  synth.show_progress = tty;
  CLI::App* synth_cmd = app.add_subcommand("synth", "Random-weight model at a real shape");
  synth_cmd->add_option("--shape", synth.shape, tandem::SynthShapeNames())->required();
  synth_cmd->add_option("--arch", synth.arch,
                        "llama | qwen2 | qwen3 (default: the shape's architecture)");
  synth_cmd->add_option("--type", synth.type, "Weight type: " + tandem::SupportedTypeNames())
      ->required();
  synth_cmd->add_option("-o,--output", synth.output_path, "Output GGUF")->required();
  synth_cmd->add_option("--vocab", synth.vocab_path,
                        "Vocabulary: llama2.c tokenizer.bin or Hugging Face tokenizer.json (BPE)");
  synth_cmd->add_option("--tokenizer-config", synth.tokenizer_config_path,
                        "tokenizer_config.json (special tokens, add_bos, chat template)");
  synth_cmd->add_option("--seed", synth.seed, "Random seed")->capture_default_str();

  tandem::TokenizeConfig tok;
  CLI::App* tok_cmd = app.add_subcommand("tokenize", "Token ids of text or of a chat prompt");
  tandem::cli::AddModel(*tok_cmd, tok.model_path);
  auto* tok_text =
      tok_cmd->add_option("-p,--prompt", tok.prompt, "Text (user text: no control tokens)");
  auto* tok_file = tok_cmd->add_option("-f,--file", tok.file_path, "Read the text from a file");
  auto* tok_chat = tok_cmd->add_option(
      "--chat", tok.chat_path,
      "OpenAI-style messages JSON, rendered with the model's chat template (generation prompt)");
  auto* tok_jsonl = tok_cmd->add_flag("--jsonl", tok.jsonl,
                                      "JSON lines {\"text\", \"special\"} on stdin -> {\"ids\"}");
  tok_text->excludes(tok_file)->excludes(tok_chat)->excludes(tok_jsonl);
  tok_file->excludes(tok_chat)->excludes(tok_jsonl);
  tok_chat->excludes(tok_jsonl);
  tok_cmd->add_flag("--ids", tok.ids_only, "Print one JSON array of ids");
  tok_cmd->add_flag("--no-bos", tok.no_bos, "Do not add BOS even if the model adds one");
  tok_cmd->add_flag("--timing", tok.timing, "Print bytes, tokens and time on stderr");

  tandem::InfoConfig info;
  CLI::App* info_cmd = app.add_subcommand("info", "Hyperparameters, tensor types and sizes");
  info_cmd->add_option("model", info.model_path, "GGUF model")->required();
  info_cmd->add_flag("--tensors", info.tensors, "List every tensor");

  tandem::PerplexityConfig ppl;
  CLI::App* ppl_cmd = app.add_subcommand("perplexity", "Perplexity over a text file");
  tandem::cli::AddModel(*ppl_cmd, ppl.model_path);
  ppl_cmd->add_option("-f,--file", ppl.text_path, "Text file")->required();
  tandem::cli::AddContext(*ppl_cmd, ppl.context, "Window size in tokens (at least 2)");
  tandem::cli::AddThreads(*ppl_cmd, ppl.threads);

  CLI11_PARSE(app, argc, argv);
  if (gen.logprobs > 0 && !gen.json) {
    std::cerr << "tandem: error: --logprobs needs --json\n";
    return 1;
  }

  absl::Status status;
  if (generate->parsed()) status = tandem::RunGenerate(gen, std::cout, std::cerr);
  if (bench_cmd->parsed()) status = tandem::RunBench(bench, std::cout, std::cerr);
  if (quantize->parsed()) status = tandem::RunQuantize(quant, std::cout, std::cerr);
  if (split_cmd->parsed()) status = tandem::RunSplit(split, std::cout, std::cerr);
  if (synth_cmd->parsed()) status = tandem::RunSynth(synth, std::cout, std::cerr);
  if (tok_cmd->parsed()) {
    if (tok_text->count() + tok_file->count() + tok_chat->count() + tok_jsonl->count() == 0) {
      std::cerr << "tandem tokenize: one of -p, -f, --chat or --jsonl is required\n";
      return 2;
    }
    status = tandem::RunTokenize(tok, std::cout, std::cerr);
  }
  if (info_cmd->parsed()) status = tandem::RunInfo(info, std::cout, std::cerr);
  if (ppl_cmd->parsed()) status = tandem::RunPerplexity(ppl, std::cout, std::cerr);
  std::cout.flush();
  if (!status.ok()) {
    std::cerr << "tandem: error: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
