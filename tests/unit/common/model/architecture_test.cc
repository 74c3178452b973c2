// The architectures the loader accepts (llama, llama with Llama 3 rope scaling, qwen2,
// qwen3), what each brings (rope mode, biases, head norms, head dim, tied head), and one
// clear error for each bad file: an unknown architecture, a qwen2 file without biases, a
// qwen3 file without head norms, a Llama 3.1 file without rope_freqs. The bad files are
// the fuzz corpus's own seeds (tests/fuzz/gguf_corpus_gen.cc).
#include <filesystem>
#include <sstream>

#include "common/model/llama_model.h"
#include "common/tool/commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Corpus(const std::string& name) {
  return std::string(TANDEM_GGUF_CORPUS_DIR) + "/valid_v3_" + name + ".gguf";
}

TEST(ArchitectureTest, TraitsFollowLlamaCpp) {
  auto llama = ArchitectureByName("llama");
  auto qwen2 = ArchitectureByName("qwen2");
  auto qwen3 = ArchitectureByName("qwen3");
  ASSERT_TRUE(llama.ok() && qwen2.ok() && qwen3.ok());
  EXPECT_FALSE(llama->neox_rope);
  EXPECT_TRUE(qwen2->neox_rope);
  EXPECT_TRUE(qwen3->neox_rope);
  EXPECT_TRUE(qwen2->qkv_bias_required);
  EXPECT_TRUE(qwen3->qk_norm);
  EXPECT_THAT(ArchitectureByName("mamba").status().message(),
              AllOf(HasSubstr("'mamba'"), HasSubstr("llama, qwen2, qwen3")));
}

TEST(ArchitectureTest, CorpusModelsOfEachArchitectureLoad) {
  for (const char* name : {"model_qwen2", "model_qwen3", "model_llama3"}) {
    auto model = LlamaModel::Load(Corpus(name));
    ASSERT_TRUE(model.ok()) << name << ": " << model.status();
    const LlamaModel& m = **model;
    EXPECT_EQ(m.hparams().arch.neox_rope, m.hparams().arch.name != "llama") << name;
    EXPECT_EQ(m.layer(0).bq != nullptr, m.hparams().arch.name == "qwen2") << name;
    EXPECT_EQ(m.layer(0).q_norm != nullptr, m.hparams().arch.name == "qwen3") << name;
    EXPECT_EQ(m.rope_freqs() != nullptr, m.hparams().arch.name == "llama") << name;
    // No output.weight: the head is token_embd's bytes, not a copy.
    EXPECT_TRUE(m.tied_head());
    EXPECT_EQ(m.output().data, m.token_embedding().data);
  }
}

TEST(ArchitectureTest, BadModelsGetOneClearError) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"badmodel_unknown_arch", {"unsupported architecture 'gpt2'", "llama, qwen2, qwen3"}},
      {"badmodel_qwen2_no_bias", {"missing tensor blk.0.attn_k.bias", "qwen2"}},
      {"badmodel_qwen3_no_q_norm", {"missing tensor blk.0.attn_q_norm.weight"}},
      {"badmodel_llama3_no_rope_freqs", {"missing tensor rope_freqs.weight", "Llama 3.1"}},
  };
  for (const auto& [name, needles] : cases) {
    auto model = LlamaModel::Load(Corpus(name));
    ASSERT_FALSE(model.ok()) << name;
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << name;
    for (const std::string& needle : needles) {
      EXPECT_THAT(model.status().message(), HasSubstr(needle)) << name;
    }
  }
}

// Qwen3-style head size: 64-wide heads over dim 128 with 4 heads (q_dim 256 != dim), and
// synthetic files of each preset load with the shapes their architecture implies.
TEST(ArchitectureTest, SynthPresetsLoadWithTheirArchitectures) {
  const auto dir = std::filesystem::path(testing::TempDir());
  struct Want {
    const char* shape;
    const char* arch;
    int32_t q_dim;
    bool tied, rope_freqs, bias, qk_norm;
  };
  for (const Want& w : {Want{"tiny", "llama", 128, false, false, false, false},
                        Want{"tiny-llama3", "llama", 128, true, true, false, false},
                        Want{"tiny-qwen2", "qwen2", 128, true, false, true, false},
                        Want{"tiny-qwen3", "qwen3", 256, true, false, false, true}}) {
    SynthConfig synth{.shape = w.shape,
                      .type = "q8_0",
                      .output_path = (dir / (std::string(w.shape) + ".gguf")).string()};
    std::ostringstream out, err;
    ASSERT_TRUE(RunSynth(synth, out, err).ok());
    auto model = LlamaModel::Load(synth.output_path);
    ASSERT_TRUE(model.ok()) << model.status();
    const LlamaModel& m = **model;
    EXPECT_EQ(m.hparams().arch.name, w.arch) << w.shape;
    EXPECT_EQ(m.hparams().q_dim(), w.q_dim) << w.shape;
    EXPECT_EQ(m.tied_head(), w.tied) << w.shape;
    EXPECT_EQ(m.rope_freqs() != nullptr, w.rope_freqs) << w.shape;
    EXPECT_EQ(m.layer(0).bq != nullptr, w.bias) << w.shape;
    EXPECT_EQ(m.layer(0).k_norm != nullptr, w.qk_norm) << w.shape;
  }
  // --arch overrides a preset's architecture; an unknown one is refused by name.
  SynthConfig synth{.shape = "tiny",
                    .arch = "falcon",
                    .type = "f32",
                    .output_path = (dir / "falcon.gguf").string()};
  std::ostringstream out, err;
  EXPECT_THAT(RunSynth(synth, out, err).message(), HasSubstr("unsupported architecture 'falcon'"));
  // A K-quant needs 256-value rows; the tiny shape's 128-value rows are refused, not written.
  synth = SynthConfig{.shape = "tiny", .type = "q4_k", .output_path = (dir / "k.gguf").string()};
  EXPECT_THAT(RunSynth(synth, out, err).message(),
              HasSubstr("not a multiple of q4_K's block size 256"));
  EXPECT_FALSE(std::filesystem::exists(synth.output_path));
}

}  // namespace
}  // namespace tandem
