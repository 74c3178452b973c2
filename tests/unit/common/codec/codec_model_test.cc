// Codecs on the real embedded model (stories260K): split at every K, send the hidden
// states through each codec, and compare the next-token distributions with the unsplit
// model by KL divergence and top-1 agreement. f32 must be bit-exact.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/codec/hidden_codec.h"
#include "common/codec/q4_codec.h"
#include "common/model/llama_model.h"
#include "common/util/thread_pool.h"
#include "gtest/gtest.h"
#include "tests/util/split_pipeline.h"

namespace tandem {
namespace {

constexpr int32_t kPositions = 96;

struct Quality {
  double mean_kl = 0;     // nats, mean over positions of KL(reference || split)
  double agreement = 0;   // fraction of positions with the same argmax
  bool bit_exact = true;  // logits identical to the reference
};

class CodecModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto model = LlamaModel::Load(TANDEM_TEST_MODEL);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model).release();
    pool_ = new ThreadPool(1);
    // Tokens: greedy continuation of BOS by the unsplit model, so the text is in
    // distribution; reference logits for all positions in one prompt pass.
    auto unsplit = testing_util::SplitPipeline::Create(*model_, 0, GetHiddenCodec(CodecKind::kF32),
                                                       kPositions);
    ASSERT_TRUE(unsplit.ok()) << unsplit.status();
    tokens_ = new std::vector<int32_t>{1};
    std::vector<float> logits(model_->hparams().n_vocab);
    while (static_cast<int32_t>(tokens_->size()) < kPositions) {
      ASSERT_TRUE(unsplit->Step({&tokens_->back(), 1}, absl::MakeSpan(logits), *pool_).ok());
      tokens_->push_back(
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
    }
    reference_ = new std::vector<float>(Run(0, GetHiddenCodec(CodecKind::kF32)));
  }

  static void TearDownTestSuite() {
    delete reference_;
    delete tokens_;
    delete pool_;
    delete model_;
  }

  // Logits [kPositions, n_vocab] with the model split at `split` (0: unsplit) and the
  // hidden states at the cut sent through `codec`, as one prompt chunk.
  static std::vector<float> Run(int32_t split, const HiddenCodec& codec) {
    const LlamaHparams& hp = model_->hparams();
    std::vector<float> logits(static_cast<size_t>(kPositions) * hp.n_vocab);
    auto pipeline = testing_util::SplitPipeline::Create(*model_, split, codec, kPositions);
    EXPECT_TRUE(pipeline.ok() && pipeline->Step(*tokens_, absl::MakeSpan(logits), *pool_).ok());
    return logits;
  }

  static Quality Compare(const std::vector<float>& got) {
    const int32_t vocab = model_->hparams().n_vocab;
    Quality q;
    for (int32_t p = 0; p < kPositions; ++p) {
      const float* a = reference_->data() + static_cast<size_t>(p) * vocab;
      const float* b = got.data() + static_cast<size_t>(p) * vocab;
      q.bit_exact &= std::equal(a, a + vocab, b);
      const float max_a = *std::max_element(a, a + vocab), max_b = *std::max_element(b, b + vocab);
      double za = 0, zb = 0;
      for (int32_t v = 0; v < vocab; ++v) {
        za += std::exp(double{a[v]} - max_a);
        zb += std::exp(double{b[v]} - max_b);
      }
      double kl = 0;
      for (int32_t v = 0; v < vocab; ++v) {
        const double la = a[v] - max_a - std::log(za), lb = b[v] - max_b - std::log(zb);
        kl += std::exp(la) * (la - lb);
      }
      q.mean_kl += kl / kPositions;
      q.agreement += (std::max_element(a, a + vocab) == a + (std::max_element(b, b + vocab) - b))
                         ? 1.0 / kPositions
                         : 0.0;
    }
    return q;
  }

  static LlamaModel* model_;
  static ThreadPool* pool_;
  static std::vector<int32_t>* tokens_;
  static std::vector<float>* reference_;
};

LlamaModel* CodecModelTest::model_ = nullptr;
ThreadPool* CodecModelTest::pool_ = nullptr;
std::vector<int32_t>* CodecModelTest::tokens_ = nullptr;
std::vector<float>* CodecModelTest::reference_ = nullptr;

TEST_F(CodecModelTest, EveryCodecAtEverySplit) {
  const LlamaHparams& hp = model_->hparams();
  for (int32_t k = 1; k < hp.n_layers; ++k) {
    for (CodecKind codec : kAllCodecKinds) {
      const Quality q = Compare(Run(k, GetHiddenCodec(codec)));
      std::printf("K=%d %-3s mean KL %.2e nats, top-1 agreement %.3f%s\n", k,
                  std::string(CodecKindName(codec)).c_str(), q.mean_kl, q.agreement,
                  q.bit_exact ? " (bit-exact)" : "");
      switch (codec) {
        case CodecKind::kF32:
          EXPECT_TRUE(q.bit_exact) << "K=" << k;
          break;
        // The README's targets (agreement >= 99% for q8, >= 97% for q4); on all 24
        // prompts they are held by split_fidelity_targets.
        case CodecKind::kF16:
          EXPECT_LT(q.mean_kl, 1e-4) << "K=" << k;
          EXPECT_GE(q.agreement, 0.99) << "K=" << k;
          break;
        case CodecKind::kQ8:  // measured: KL <= 4.4e-5, agreement 1.0
          EXPECT_LT(q.mean_kl, 1e-3) << "K=" << k;
          EXPECT_GE(q.agreement, 0.99) << "K=" << k;
          break;
        case CodecKind::kQ4:  // measured: KL <= 2.4e-3, agreement >= 0.99
          EXPECT_LT(q.mean_kl, 5e-3) << "K=" << k;
          EXPECT_GE(q.agreement, 0.97) << "K=" << k;
          break;
      }
    }
    const Quality plain = Compare(Run(k, Q4Codec(0)));
    std::printf("K=%d q4 without outliers: mean KL %.2e nats, top-1 agreement %.3f\n", k,
                plain.mean_kl, plain.agreement);
    // Even this tiny model (dim 64: one outlier channel per row) gains from it.
    EXPECT_LT(Compare(Run(k, GetHiddenCodec(CodecKind::kQ4))).mean_kl, plain.mean_kl) << "K=" << k;
  }
}

}  // namespace
}  // namespace tandem
