#include "common/kernels/ops.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/common/kernels/test_util.h"

namespace tandem {
namespace {

using ::tandem::testing::Nmse;
using ::tandem::testing::RandomFloats;

TEST(RmsNormTest, MatchesDoubleFormula) {
  for (int64_t dim : {1, 7, 64, 2048, 2051}) {
    const int64_t n = 3;
    std::vector<float> x = RandomFloats(n * dim, 1, 2.0f);
    x[0] = 500.0f;  // an outlier channel
    const std::vector<float> weight = RandomFloats(dim, 2);
    std::vector<float> got(n * dim), ref_out(n * dim), want(n * dim);
    RmsNorm(x.data(), weight.data(), n, dim, 1e-5f, got.data());
    ref::RmsNorm(x.data(), weight.data(), n, dim, 1e-5f, ref_out.data());
    for (int64_t r = 0; r < n; ++r) {
      double ss = 0.0;
      for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
      const double scale = 1.0 / std::sqrt(ss / dim + 1e-5);
      for (int64_t i = 0; i < dim; ++i) want[r * dim + i] = x[r * dim + i] * scale * weight[i];
    }
    EXPECT_LT(Nmse(ref_out, want), 1e-12) << dim;
    EXPECT_LT(Nmse(got, ref_out), 1e-13) << dim;
  }
}

TEST(RopeTest, MatchesRotationFormula) {
  const int n = 5, n_heads = 3, head_dim = 16;
  const int64_t pos0 = 37;
  const float base = 10000.0f;
  const std::vector<float> x = RandomFloats(n * n_heads * head_dim, 3);
  std::vector<float> y = x;
  RopeNormal(y.data(), n, n_heads, head_dim, pos0, base);
  for (int r = 0; r < n; ++r) {
    for (int h = 0; h < n_heads; ++h) {
      for (int i = 0; i < head_dim / 2; ++i) {
        const double theta = (pos0 + r) * std::pow(static_cast<double>(base), -2.0 * i / head_dim);
        const size_t o = (static_cast<size_t>(r) * n_heads + h) * head_dim + 2 * i;
        const double x0 = x[o], x1 = x[o + 1];
        EXPECT_NEAR(y[o], x0 * std::cos(theta) - x1 * std::sin(theta), 2e-4);
        EXPECT_NEAR(y[o + 1], x0 * std::sin(theta) + x1 * std::cos(theta), 2e-4);
      }
    }
  }
}

// NEOX mode pairs element i with i + head_dim/2; frequency factors divide the angles.
TEST(RopeTest, NeoxWithFreqFactorsMatchesRotationFormula) {
  const int n = 4, n_heads = 2, head_dim = 16, half = head_dim / 2;
  const int64_t pos0 = 1000;
  const float base = 500000.0f;
  std::vector<float> factors(half);
  for (int i = 0; i < half; ++i) factors[i] = 1.0f + 3.0f * i;
  const std::vector<float> x = RandomFloats(n * n_heads * head_dim, 5);
  std::vector<float> y = x;
  Rope(y.data(), n, n_heads, head_dim, pos0,
       {.freq_base = base, .neox = true, .freq_factors = factors.data()});
  for (int r = 0; r < n; ++r) {
    for (int h = 0; h < n_heads; ++h) {
      for (int i = 0; i < half; ++i) {
        const double theta =
            (pos0 + r) * std::pow(static_cast<double>(base), -2.0 * i / head_dim) / factors[i];
        const size_t o = (static_cast<size_t>(r) * n_heads + h) * head_dim + i;
        const double x0 = x[o], x1 = x[o + half];
        EXPECT_NEAR(y[o], x0 * std::cos(theta) - x1 * std::sin(theta), 2e-3) << r << " " << i;
        EXPECT_NEAR(y[o + half], x0 * std::sin(theta) + x1 * std::cos(theta), 2e-3);
      }
    }
  }
}

TEST(RopeTest, PositionZeroIsIdentity) {
  const std::vector<float> x = RandomFloats(2 * 64, 4);
  std::vector<float> y = x;
  RopeNormal(y.data(), 1, 2, 64, 0, 10000.0f);
  EXPECT_EQ(y, x);
}

// Naive causal GQA attention in double.
std::vector<float> NaiveAttention(const std::vector<float>& q, const std::vector<float>& k,
                                  const std::vector<float>& v, int64_t n, int64_t pos0, int n_heads,
                                  int n_kv_heads, int hd) {
  std::vector<float> out(n * n_heads * hd);
  const int64_t kv_dim = static_cast<int64_t>(n_kv_heads) * hd;
  for (int64_t r = 0; r < n; ++r) {
    for (int h = 0; h < n_heads; ++h) {
      const int g = h / (n_heads / n_kv_heads);
      const float* qh = &q[(r * n_heads + h) * hd];
      const int64_t len = pos0 + r + 1;
      std::vector<double> s(len);
      double max = -INFINITY;
      for (int64_t j = 0; j < len; ++j) {
        double dot = 0.0;
        for (int i = 0; i < hd; ++i) dot += static_cast<double>(qh[i]) * k[j * kv_dim + g * hd + i];
        s[j] = dot / std::sqrt(static_cast<double>(hd));
        max = std::max(max, s[j]);
      }
      double sum = 0.0;
      for (double& e : s) sum += (e = std::exp(e - max));
      for (int i = 0; i < hd; ++i) {
        double acc = 0.0;
        for (int64_t j = 0; j < len; ++j) acc += s[j] / sum * v[j * kv_dim + g * hd + i];
        out[(r * n_heads + h) * hd + i] = static_cast<float>(acc);
      }
    }
  }
  return out;
}

TEST(AttentionTest, MatchesNaiveReference) {
  struct Case {
    int64_t n, pos0;
    int n_heads, n_kv_heads, hd;
  };
  for (const Case& c : {Case{1, 0, 4, 2, 8}, Case{1, 40, 4, 2, 64}, Case{5, 0, 4, 4, 64},
                        Case{6, 7, 8, 2, 12}, Case{3, 129, 2, 1, 72}, Case{17, 3, 4, 1, 128}}) {
    const int64_t ctx = c.pos0 + c.n;
    const int64_t kv_dim = static_cast<int64_t>(c.n_kv_heads) * c.hd;
    const std::vector<float> q = RandomFloats(c.n * c.n_heads * c.hd, 5, 1.5f);
    const std::vector<float> k = RandomFloats(ctx * kv_dim, 6, 1.5f);
    const std::vector<float> v = RandomFloats(ctx * kv_dim, 7);
    const std::vector<float> want =
        NaiveAttention(q, k, v, c.n, c.pos0, c.n_heads, c.n_kv_heads, c.hd);
    std::vector<float> got(want.size()), ref_out(want.size());
    ref::Attention(q.data(), k.data(), v.data(), c.n, c.pos0, c.n_heads, c.n_kv_heads, c.hd,
                   ref_out.data());
    EXPECT_LT(Nmse(ref_out, want), 1e-11) << c.n << " " << c.pos0 << " " << c.hd;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      Attention(q.data(), k.data(), v.data(), c.n, c.pos0, c.n_heads, c.n_kv_heads, c.hd,
                got.data(), pool);
      EXPECT_LT(Nmse(got, want), 1e-11) << c.n << " " << c.pos0 << " " << c.hd;
    }
  }
}

TEST(AttentionTest, BitIdenticalAcrossPoolSizes) {
  const int64_t n = 9, pos0 = 20;
  const int n_heads = 8, n_kv = 2, hd = 64;
  const int64_t kv_dim = n_kv * hd;
  const std::vector<float> q = RandomFloats(n * n_heads * hd, 8);
  const std::vector<float> k = RandomFloats((pos0 + n) * kv_dim, 9);
  const std::vector<float> v = RandomFloats((pos0 + n) * kv_dim, 10);
  std::vector<float> base(q.size()), y(q.size());
  ThreadPool one(1);
  Attention(q.data(), k.data(), v.data(), n, pos0, n_heads, n_kv, hd, base.data(), one);
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    Attention(q.data(), k.data(), v.data(), n, pos0, n_heads, n_kv, hd, y.data(), pool);
    EXPECT_EQ(std::memcmp(y.data(), base.data(), y.size() * sizeof(float)), 0) << threads;
  }
}

// Batch invariance: a query row's attention output does not depend on the chunk it is
// computed in (alone as a decode step, or at any offset of a prompt chunk of any size).
TEST(AttentionTest, RowsDoNotDependOnChunking) {
  const int64_t total = 23;
  const int n_heads = 8, n_kv = 2, hd = 64;
  const int64_t kv_dim = n_kv * hd;
  const std::vector<float> q = RandomFloats(total * n_heads * hd, 18, 2.0f);
  const std::vector<float> k = RandomFloats(total * kv_dim, 19, 2.0f);
  const std::vector<float> v = RandomFloats(total * kv_dim, 20);
  ThreadPool pool(2);
  std::vector<float> single(q.size());
  const int64_t row = n_heads * hd;
  for (int64_t p = 0; p < total; ++p) {
    Attention(q.data() + p * row, k.data(), v.data(), 1, p, n_heads, n_kv, hd,
              single.data() + p * row, pool);
  }
  for (int64_t pos0 : {0, 1, 4, 9}) {
    for (int64_t n : {2, 3, 8, 13}) {
      if (pos0 + n > total) continue;
      std::vector<float> chunk(n * row);
      Attention(q.data() + pos0 * row, k.data(), v.data(), n, pos0, n_heads, n_kv, hd, chunk.data(),
                pool);
      ASSERT_EQ(std::memcmp(chunk.data(), single.data() + pos0 * row, chunk.size() * 4), 0)
          << "pos0=" << pos0 << " n=" << n;
    }
  }
}

// Several sequences in one call: each one's output is bit-identical to running it alone
// (other sequences and their lengths do not matter).
TEST(AttentionTest, BatchOfSequencesEqualsEachAlone) {
  const int n_heads = 4, n_kv = 2, hd = 64;
  const int64_t kv_dim = n_kv * hd, row = n_heads * hd;
  struct Seq {
    int64_t n, pos0;
    std::vector<float> q, k, v, alone, batched;
  };
  std::vector<Seq> seqs = {{1, 30}, {5, 0}, {1, 0}, {3, 7}};
  ThreadPool pool(2);
  std::vector<AttentionSeq> views;
  uint32_t seed = 40;
  for (Seq& s : seqs) {
    s.q = RandomFloats(s.n * row, ++seed, 2.0f);
    s.k = RandomFloats((s.pos0 + s.n) * kv_dim, ++seed, 2.0f);
    s.v = RandomFloats((s.pos0 + s.n) * kv_dim, ++seed);
    s.alone.resize(s.n * row);
    s.batched.resize(s.n * row);
    Attention(s.q.data(), s.k.data(), s.v.data(), s.n, s.pos0, n_heads, n_kv, hd, s.alone.data(),
              pool);
    views.push_back({.q = s.q.data(),
                     .k = s.k.data(),
                     .v = s.v.data(),
                     .n = s.n,
                     .pos0 = s.pos0,
                     .out = s.batched.data()});
  }
  AttentionBatch(views, n_heads, n_kv, hd, pool);
  for (size_t i = 0; i < seqs.size(); ++i) {
    EXPECT_EQ(0, std::memcmp(seqs[i].batched.data(), seqs[i].alone.data(),
                             seqs[i].alone.size() * sizeof(float)))
        << "sequence " << i;
  }
}

TEST(AttentionTest, SingleKeyReturnsItsValue) {
  const int hd = 16;
  const std::vector<float> q = RandomFloats(hd, 11), k = RandomFloats(hd, 12),
                           v = RandomFloats(hd, 13);
  std::vector<float> out(hd);
  ThreadPool pool(2);
  Attention(q.data(), k.data(), v.data(), 1, 0, 1, 1, hd, out.data(), pool);
  for (int i = 0; i < hd; ++i) EXPECT_FLOAT_EQ(out[i], v[i]);
}

TEST(ElementwiseTest, SiluMulMatchesFormula) {
  for (int64_t count : {1, 8, 13, 5632}) {
    std::vector<float> gate = RandomFloats(count, 14, 4.0f);
    if (count > 1) gate[0] = -100.0f;  // exp(100) overflows float; silu -> ~0
    const std::vector<float> up = RandomFloats(count, 15);
    std::vector<float> want(count), ref_gate = gate;
    for (int64_t i = 0; i < count; ++i) {
      want[i] =
          static_cast<float>(gate[i] / (1.0 + std::exp(-static_cast<double>(gate[i]))) * up[i]);
    }
    ref::SiluMul(ref_gate.data(), up.data(), count);
    SiluMul(gate.data(), up.data(), count);
    EXPECT_LT(Nmse(ref_gate, want), 1e-12) << count;
    EXPECT_LT(Nmse(gate, want), 1e-12) << count;
    EXPECT_LT(std::fabs(gate[0] - want[0]), 1e-6f);
  }
}

// Element i's value does not depend on how many rows were passed with it (the row
// length is not always a multiple of the vector width).
TEST(ElementwiseTest, SiluMulDoesNotDependOnCount) {
  const int64_t count = 45;
  const std::vector<float> gate = RandomFloats(count, 21, 4.0f), up = RandomFloats(count, 22);
  std::vector<float> all = gate;
  SiluMul(all.data(), up.data(), count);
  for (int64_t first : {0, 3, 8, 40}) {
    for (int64_t len : {1, 2, 5, 9}) {
      if (first + len > count) continue;
      std::vector<float> part(gate.begin() + first, gate.begin() + first + len);
      SiluMul(part.data(), up.data() + first, len);
      ASSERT_EQ(std::memcmp(part.data(), all.data() + first, len * 4), 0)
          << "first=" << first << " len=" << len;
    }
  }
}

TEST(ElementwiseTest, AddInPlace) {
  std::vector<float> x = RandomFloats(37, 16);
  const std::vector<float> y = RandomFloats(37, 17);
  std::vector<float> want(37);
  for (int i = 0; i < 37; ++i) want[i] = x[i] + y[i];
  AddInPlace(x.data(), y.data(), 37);
  EXPECT_EQ(x, want);
}

TEST(ElementwiseTest, SoftmaxMatchesDoubleAndIsStable) {
  for (int64_t count : {1, 5, 8, 100, 32000}) {
    std::vector<float> x = RandomFloats(count, 18, 5.0f);
    x[0] = 1000.0f;  // would overflow without the max shift
    if (count > 1) x[count - 1] = -1000.0f;
    std::vector<float> want(count);
    double max = -INFINITY, sum = 0.0;
    for (float v : x) max = std::max(max, static_cast<double>(v));
    for (float v : x) sum += std::exp(v - max);
    for (int64_t i = 0; i < count; ++i) want[i] = static_cast<float>(std::exp(x[i] - max) / sum);
    std::vector<float> r = x;
    ref::Softmax(r.data(), count);
    Softmax(x.data(), count);
    EXPECT_LT(Nmse(r, want), 1e-12) << count;
    EXPECT_LT(Nmse(x, want), 1e-12) << count;
    double total = 0.0;
    for (float v : x) total += v;
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

}  // namespace
}  // namespace tandem
