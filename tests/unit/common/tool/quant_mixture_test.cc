// llama.cpp's per-tensor mixture for the presets, on TinyLlama-1.1B's tensor list (22
// layers, 2048-wide, GQA) and on a model whose rows are not whole super-blocks. The
// expected types are llama-quantize's for the same files (llama-quant.cpp's rules:
// attn_v and ffn_down of the first and last eighth of the layers and every third layer
// between them get more bits in the _m presets; the head gets Q6_K).
#include "common/tool/quant_mixture.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

std::vector<MixtureTensor> LlamaTensors(int layers, int64_t dim, int64_t ffn, int64_t kv_dim,
                                        bool tied = false) {
  std::vector<MixtureTensor> t;
  t.push_back({"token_embd.weight", {dim, 32000}, GgmlType::kF16});
  for (int l = 0; l < layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    t.push_back({p + "attn_norm.weight", {dim}, GgmlType::kF32});
    t.push_back({p + "attn_q.weight", {dim, dim}, GgmlType::kF16});
    t.push_back({p + "attn_k.weight", {dim, kv_dim}, GgmlType::kF16});
    t.push_back({p + "attn_v.weight", {dim, kv_dim}, GgmlType::kF16});
    t.push_back({p + "attn_output.weight", {dim, dim}, GgmlType::kF16});
    t.push_back({p + "ffn_norm.weight", {dim}, GgmlType::kF32});
    t.push_back({p + "ffn_gate.weight", {dim, ffn}, GgmlType::kF16});
    t.push_back({p + "ffn_up.weight", {dim, ffn}, GgmlType::kF16});
    t.push_back({p + "ffn_down.weight", {ffn, dim}, GgmlType::kF16});
  }
  t.push_back({"output_norm.weight", {dim}, GgmlType::kF32});
  if (!tied) t.push_back({"output.weight", {dim, 32000}, GgmlType::kF16});
  return t;
}

GgmlType TypeOf(const std::vector<MixtureTensor>& t, const std::vector<GgmlType>& types,
                const std::string& name) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].name == name) return types[i];
  }
  ADD_FAILURE() << "no tensor " << name;
  return GgmlType::kF32;
}

std::vector<GgmlType> Plan(const char* preset, const std::vector<MixtureTensor>& t, int layers,
                           std::vector<std::string>* fallbacks = nullptr) {
  auto p = ParseQuantPreset(preset);
  EXPECT_TRUE(p.ok()) << p.status();
  return PlanMixture(*p, t, layers, fallbacks);
}

TEST(QuantMixtureTest, Q4_K_MOnTinyLlama) {
  const auto t = LlamaTensors(22, 2048, 5632, 256);
  const auto types = Plan("q4_k_m", t, 22);
  // n = 22: more bits for layers < 2, >= 19, and (i - 2) % 3 == 2.
  const std::set<int> more = {0, 1, 4, 7, 10, 13, 16, 19, 20, 21};
  for (int l = 0; l < 22; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    const GgmlType want = more.count(l) ? GgmlType::kQ6_K : GgmlType::kQ4_K;
    EXPECT_EQ(TypeOf(t, types, p + "attn_v.weight"), want) << l;
    EXPECT_EQ(TypeOf(t, types, p + "ffn_down.weight"), want) << l;
    EXPECT_EQ(TypeOf(t, types, p + "attn_q.weight"), GgmlType::kQ4_K) << l;
    EXPECT_EQ(TypeOf(t, types, p + "ffn_up.weight"), GgmlType::kQ4_K) << l;
    EXPECT_EQ(TypeOf(t, types, p + "attn_norm.weight"), GgmlType::kF32) << l;
  }
  EXPECT_EQ(TypeOf(t, types, "output.weight"), GgmlType::kQ6_K);
  EXPECT_EQ(TypeOf(t, types, "token_embd.weight"), GgmlType::kQ4_K);
}

TEST(QuantMixtureTest, Q4_K_SAndQ5_K_MAndQ6_K) {
  const auto t = LlamaTensors(22, 2048, 5632, 256);
  const auto s = Plan("q4_k_s", t, 22);
  for (int l = 0; l < 22; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    EXPECT_EQ(TypeOf(t, s, p + "attn_v.weight"), l < 4 ? GgmlType::kQ5_K : GgmlType::kQ4_K) << l;
    EXPECT_EQ(TypeOf(t, s, p + "ffn_down.weight"), l < 2 ? GgmlType::kQ5_K : GgmlType::kQ4_K) << l;
  }
  EXPECT_EQ(TypeOf(t, s, "output.weight"), GgmlType::kQ6_K);
  const auto m5 = Plan("q5_k_m", t, 22);
  EXPECT_EQ(TypeOf(t, m5, "blk.0.attn_v.weight"), GgmlType::kQ6_K);
  EXPECT_EQ(TypeOf(t, m5, "blk.2.attn_v.weight"), GgmlType::kQ5_K);
  EXPECT_EQ(TypeOf(t, m5, "blk.3.ffn_gate.weight"), GgmlType::kQ5_K);
  const auto q6 = Plan("q6_k", t, 22);
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(q6[i], t[i].shape.size() == 1 ? GgmlType::kF32 : GgmlType::kQ6_K) << t[i].name;
  }
  // Plain 32-value presets: the head still gets Q6_K; Q8_0 keeps its own.
  const auto q40 = Plan("q4_0", t, 22);
  EXPECT_EQ(TypeOf(t, q40, "output.weight"), GgmlType::kQ6_K);
  EXPECT_EQ(TypeOf(t, q40, "blk.5.attn_v.weight"), GgmlType::kQ4_0);
  const auto q80 = Plan("q8_0", t, 22);
  EXPECT_EQ(TypeOf(t, q80, "output.weight"), GgmlType::kQ8_0);
  const auto f16 = Plan("f16", t, 22);
  EXPECT_EQ(TypeOf(t, f16, "output.weight"), GgmlType::kF16);
}

TEST(QuantMixtureTest, FallbacksForRowsNotWholeSuperBlocks) {
  // Qwen2.5-0.5B-like: 896-wide, ffn 4864 (= 19 * 256), tied head.
  const auto t = LlamaTensors(24, 896, 4864, 128, /*tied=*/true);
  std::vector<std::string> fallbacks;
  const auto types = Plan("q4_k_m", t, 24, &fallbacks);
  EXPECT_EQ(TypeOf(t, types, "blk.3.attn_q.weight"), GgmlType::kQ5_0);
  EXPECT_EQ(TypeOf(t, types, "blk.0.attn_v.weight"), GgmlType::kQ8_0);    // Q6_K -> Q8_0
  EXPECT_EQ(TypeOf(t, types, "blk.3.ffn_down.weight"), GgmlType::kQ4_K);  // rows of 4864
  EXPECT_EQ(TypeOf(t, types, "blk.0.ffn_down.weight"), GgmlType::kQ6_K);
  // The tied embedding is the head: quantized as the head would be, here Q8_0 (896 rows).
  EXPECT_EQ(TypeOf(t, types, "token_embd.weight"), GgmlType::kQ8_0);
  EXPECT_FALSE(fallbacks.empty());
  const auto q5 = Plan("q5_k_m", t, 24);
  EXPECT_EQ(TypeOf(t, q5, "blk.3.attn_q.weight"), GgmlType::kQ5_1);
  // Rows that fit no 32-value block stay F16.
  const std::vector<MixtureTensor> odd = {{"blk.0.attn_q.weight", {100, 8}, GgmlType::kF32}};
  EXPECT_EQ(Plan("q4_k_m", odd, 1)[0], GgmlType::kF16);
}

TEST(QuantMixtureTest, PresetNames) {
  EXPECT_TRUE(ParseQuantPreset("Q4_K_M").ok());
  auto bad = ParseQuantPreset("q3_k");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("q4_k_m"), std::string::npos);
}

}  // namespace
}  // namespace tandem
