#include "common/kernels/matmul.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "common/kernels/cpu_features.h"
#include "common/kernels/matmul_internal.h"
#include "common/tensor/quantize.h"
#include "common/util/fp16.h"
#include "gtest/gtest.h"
#include "tests/unit/common/kernels/test_util.h"

namespace tandem {
namespace {

using ::tandem::testing::Nmse;
using ::tandem::testing::RandomFloats;

// A weight matrix quantized from random floats, owning its bytes.
struct TestWeights {
  std::vector<uint8_t> bytes;
  WeightView view;
};

TestWeights MakeWeights(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  const std::vector<float> values = RandomFloats(rows * cols, seed, 0.5f);
  TestWeights w;
  const size_t row_bytes = RowBytes(type, cols);
  w.bytes.resize(row_bytes * rows + 64);
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRow(type, values.data() + r * cols, w.bytes.data() + r * row_bytes, cols);
  }
  w.view = WeightView{type, rows, cols, w.bytes.data()};
  return w;
}

bool Quantized(GgmlType t) {
  return t != GgmlType::kF32 && t != GgmlType::kF16 && t != GgmlType::kBF16;
}

bool KQuant(GgmlType t) {
  return matmul_internal::ActivationKindOf(t) == matmul_internal::ActivationKind::kQ8_K;
}

constexpr GgmlType kQuantTypes[] = {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1,
                                    GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_K,
                                    GgmlType::kQ5_K, GgmlType::kQ6_K};

// The activation row a quantized type's kernels multiply with, dequantized.
std::vector<float> QuantizedActivations(GgmlType type, const float* x, int64_t cols) {
  std::vector<float> back(cols);
  if (KQuant(type)) {
    std::vector<BlockQ8_K> xk(cols / kQK_K);
    matmul_internal::QuantizeActivationRowQ8K(x, cols, xk.data());
    for (int64_t i = 0; i < cols; ++i) back[i] = xk[i / kQK_K].d * xk[i / kQK_K].qs[i % kQK_K];
  } else {
    std::vector<BlockQ8_0> xq(cols / 32);
    matmul_internal::QuantizeActivationRow(x, cols, xq.data());
    DequantizeRow(GgmlType::kQ8_0, xq.data(), back.data(), cols);
  }
  return back;
}

std::string TypeName(GgmlType t) { return std::string(TraitsOf(t).name); }

// The reference's quantized path equals dequantized W times dequantized activation blocks
// (in double), up to float rounding: checks the int dot products and scales.
TEST(MatMulRefTest, QuantizedMatchesDequantizedProduct) {
  for (GgmlType type : kQuantTypes) {
    const int64_t rows = 7, cols = KQuant(type) ? 512 : 96, n = 3;
    TestWeights w = MakeWeights(type, rows, cols, 11);
    const std::vector<float> x = RandomFloats(n * cols, 12);
    std::vector<float> y(n * rows);
    ref::MatMul(w.view, x.data(), n, y.data());

    std::vector<float> want(n * rows), wrow(cols);
    for (int64_t t = 0; t < n; ++t) {
      const std::vector<float> xrow = QuantizedActivations(type, x.data() + t * cols, cols);
      for (int64_t r = 0; r < rows; ++r) {
        DequantizeRow(type, w.view.data + r * RowBytes(type, cols), wrow.data(), cols);
        double acc = 0.0;
        for (int64_t i = 0; i < cols; ++i) acc += static_cast<double>(wrow[i]) * xrow[i];
        want[t * rows + r] = static_cast<float>(acc);
      }
    }
    EXPECT_LT(Nmse(y, want), 1e-11) << TypeName(type);
  }
}

// Q8_K activations: ggml's rounding (ties to even, scale from the signed extreme, which
// maps to -127) and the 16-value sums the K-quant kernels use for the mins.
TEST(MatMulRefTest, Q8KActivationsMatchGgml) {
  std::vector<float> x = RandomFloats(512, 3, 2.0f);
  x[5] = 30.0f;     // block 0's extreme: q = -127, d = -30 / 127
  x[300] = -40.0f;  // block 1's extreme (negative): q = -127, d = 40 / 127
  std::vector<BlockQ8_K> q(2);
  matmul_internal::QuantizeActivationRowQ8K(x.data(), 512, q.data());
  EXPECT_EQ(q[0].qs[5], -127);
  EXPECT_FLOAT_EQ(q[0].d, -30.0f / 127.0f);
  EXPECT_EQ(q[1].qs[300 - 256], -127);
  EXPECT_FLOAT_EQ(q[1].d, 40.0f / 127.0f);
  for (int b = 0; b < 2; ++b) {
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += q[b].qs[16 * j + i];
      EXPECT_EQ(q[b].bsums[j], sum);
    }
  }
  // Without outliers, 256 values share one step of about 7 sigma / 127.
  const std::vector<float> plain = RandomFloats(512, 4, 2.0f);
  const std::vector<float> back = QuantizedActivations(GgmlType::kQ4_K, plain.data(), 512);
  EXPECT_LT(Nmse(back, plain), 2e-4);
}

// Float weights: the reference equals a plain double product.
TEST(MatMulRefTest, FloatMatchesDoubleProduct) {
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    const int64_t rows = 9, cols = 37, n = 2;
    TestWeights w = MakeWeights(type, rows, cols, 21);
    const std::vector<float> x = RandomFloats(n * cols, 22);
    std::vector<float> y(n * rows), want(n * rows), wrow(cols);
    ref::MatMul(w.view, x.data(), n, y.data());
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t r = 0; r < rows; ++r) {
        DequantizeRow(type, w.view.data + r * RowBytes(type, cols), wrow.data(), cols);
        double acc = 0.0;
        for (int64_t i = 0; i < cols; ++i) acc += static_cast<double>(wrow[i]) * x[t * cols + i];
        want[t * rows + r] = static_cast<float>(acc);
      }
    }
    EXPECT_LT(Nmse(y, want), 1e-12) << TypeName(type);
  }
}

TEST(MatMulRefTest, QuantizedActivationsAreCloseToInput) {
  const int64_t cols = 256;
  const std::vector<float> x = RandomFloats(cols, 5, 3.0f);
  std::vector<BlockQ8_0> xq(cols / 32);
  std::vector<float> back(cols);
  matmul_internal::QuantizeActivationRow(x.data(), cols, xq.data());
  DequantizeRow(GgmlType::kQ8_0, xq.data(), back.data(), cols);
  EXPECT_LT(Nmse(back, x), 1e-4);
}

// An activation row of 6 Q8_K blocks for the quantizer tests, with edge cases in blocks
// 0..2: a negative max and exact ties (half to even), an all-zero block, and two values of
// the largest magnitude, the first one negative.
std::vector<float> Q8KEdgeCases(uint32_t seed) {
  std::vector<float> x = RandomFloats(256 * 6, seed, 0.01f * seed);
  x[7] = -127.0f;  // iscale -127 / max = 1
  x[1] = 2.5f;
  x[2] = -3.5f;
  x[3] = 0.5f;
  for (int j = 256; j < 512; ++j) x[j] = 0.0f;
  x[600] = -40.0f;
  x[700] = 40.0f;
  return x;
}

#if defined(__x86_64__)
TEST(MatMulAvx2Test, ActivationQuantizerBitIdenticalToScalar) {
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "no AVX2";
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    const int64_t cols = 32 * 40;
    std::vector<float> x = RandomFloats(cols, seed, 0.01f * seed);
    // Exact ties after scaling: a block with amax 127 has id 1.
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = -3.5f;
    x[3] = 0.5f;
    for (int j = 32; j < 64; ++j) x[j] = 0.0f;  // an all-zero block
    std::vector<BlockQ8_0> a(cols / 32), b(cols / 32);
    matmul_internal::QuantizeActivationRow(x.data(), cols, a.data());
    matmul_internal::avx2::QuantizeActivationRow(x.data(), cols, b.data());
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(BlockQ8_0)), 0) << seed;
    EXPECT_EQ(a[0].qs[1], 2);  // half to even
    EXPECT_EQ(a[0].qs[2], -4);
  }
}

TEST(MatMulAvx2Test, Q8KActivationQuantizerBitIdenticalToScalar) {
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "no AVX2";
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    std::vector<float> x = Q8KEdgeCases(seed);
    const int64_t cols = static_cast<int64_t>(x.size());
    std::vector<BlockQ8_K> a(cols / 256), b(cols / 256);
    matmul_internal::QuantizeActivationRowQ8K(x.data(), cols, a.data());
    matmul_internal::avx2::QuantizeActivationRowQ8K(x.data(), cols, b.data());
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(BlockQ8_K)), 0) << seed;
    EXPECT_EQ(a[0].qs[7], -127);
    EXPECT_EQ(a[0].qs[1], 2);  // half to even
    EXPECT_EQ(a[0].qs[2], -4);
  }
}
#endif

// MatMul (fastest kernels, 2 threads) against the scalar reference over many shapes,
// including row counts and token counts that are not multiples of the tile sizes.
class MatMulVsRefTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(MatMulVsRefTest, RandomShapes) {
  const GgmlType type = GetParam();
  ThreadPool pool(2);
  std::vector<int64_t> col_options = {32, 64, 96, 256, 288};
  if (!Quantized(type)) col_options.insert(col_options.end(), {7, 33, 100});
  if (KQuant(type)) col_options = {256, 512, 768};
  uint32_t seed = 100;
  for (int64_t rows : {1, 5, 8, 13, 64, 67}) {
    for (int64_t cols : col_options) {
      for (int64_t n : {1, 2, 3, 6, 17, 64}) {
        ++seed;
        TestWeights w = MakeWeights(type, rows, cols, seed);
        const std::vector<float> x = RandomFloats(n * cols, seed + 1000);
        std::vector<float> got(n * rows, -1.0f), want(n * rows, -2.0f);
        MatMul(w.view, x.data(), n, got.data(), pool);
        ref::MatMul(w.view, x.data(), n, want.data());
        // Only the float summation order differs (quantized: the int sums are exact).
        const double nmse = Nmse(got, want);
        ASSERT_LT(nmse, 1e-9) << TypeName(type) << " rows=" << rows << " cols=" << cols
                              << " n=" << n;
      }
    }
  }
}

// The K-quant and the Q4_1/Q5_0/Q5_1 kernels do the reference's float steps on exact
// integer sums: every output equals the scalar reference's bit for bit, decode and prompt
// alike (Q4_1/Q5_x also at widths that are not whole 256-value super-blocks).
TEST(MatMulKQuantTest, BitIdenticalToReference) {
  ThreadPool pool(2);
  uint32_t seed = 900;
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kQ4_1,
                        GgmlType::kQ5_0, GgmlType::kQ5_1}) {
    for (int64_t rows : {1, 5, 33}) {
      // 2816: 11 super-blocks, several of the decode kernel's block groups and a partial one.
      const bool k = TraitsOf(type).block_size == 256;
      for (int64_t cols : {int64_t{256}, int64_t{1024}, k ? int64_t{512} : int64_t{96},
                           k ? int64_t{2816} : int64_t{160}}) {
        for (int64_t n : {1, 2, 17, 40}) {
          ++seed;
          TestWeights w = MakeWeights(type, rows, cols, seed);
          std::vector<float> x = RandomFloats(n * cols, seed + 7);
          x[3] = 250.0f;  // an outlier channel: full-range int8 activations
          std::vector<float> got(n * rows, -1.0f), want(n * rows, -2.0f);
          MatMul(w.view, x.data(), n, got.data(), pool);
          ref::MatMul(w.view, x.data(), n, want.data());
          ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
              << TypeName(type) << " rows=" << rows << " cols=" << cols << " n=" << n;
        }
      }
    }
  }
}

TEST_P(MatMulVsRefTest, BitIdenticalAcrossPoolSizes) {
  const GgmlType type = GetParam();
  for (int64_t n : {1, 5, 64}) {
    const int64_t rows = 203, cols = 512;
    TestWeights w = MakeWeights(type, rows, cols, 77);
    const std::vector<float> x = RandomFloats(n * cols, 78);
    std::vector<float> base(n * rows);
    {
      ThreadPool pool(1);
      MatMul(w.view, x.data(), n, base.data(), pool);
    }
    for (int threads : {2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> y(n * rows);
      MatMul(w.view, x.data(), n, y.data(), pool);
      ASSERT_EQ(std::memcmp(y.data(), base.data(), y.size() * sizeof(float)), 0)
          << TypeName(type) << " n=" << n << " threads=" << threads;
    }
  }
}

// x [total, cols] with one outlier channel, and each token's outputs from `matmul` on that
// token alone (n == 1): the reference of the batch invariance tests.
struct SingleTokenCase {
  std::vector<float> x, single;
};
SingleTokenCase SingleTokens(
    const WeightView& w, int64_t total, uint32_t seed,
    const std::function<void(const WeightView&, const float*, int64_t, float*)>& matmul) {
  SingleTokenCase c{RandomFloats(total * w.cols, seed), std::vector<float>(total * w.rows)};
  c.x[5] = 300.0f;  // an outlier channel
  for (int64_t t = 0; t < total; ++t) {
    matmul(w, c.x.data() + t * w.cols, 1, c.single.data() + t * w.rows);
  }
  return c;
}

// Batch invariance, the rule for every kernel: a token's outputs are bit-identical whether
// it is decoded alone (n == 1) or computed inside a batch of any size at any offset
// (prompt chunks, several sessions' steps). Checked for the kernel set this run uses
// (the default level, and again under TANDEM_CPU=avx2) and for the portable scalar set.
void ExpectBatchInvariant(
    GgmlType type,
    const std::function<void(const WeightView&, const float*, int64_t, float*)>& matmul) {
  for (int64_t cols : {32, 96, 2048}) {
    if (!Quantized(type) && cols == 32) continue;
    const int64_t rows = 37, total = 19;
    TestWeights w = MakeWeights(type, rows, cols, 91 + cols);
    const auto [x, single] = SingleTokens(w.view, total, 92 + cols, matmul);
    for (int64_t first : {0, 1, 3, 10}) {
      for (int64_t n : {2, 3, 4, 5, 7, 8, 9}) {
        if (first + n > total) continue;
        std::vector<float> part(n * rows);
        matmul(w.view, x.data() + first * cols, n, part.data());
        ASSERT_EQ(
            std::memcmp(part.data(), single.data() + first * rows, part.size() * sizeof(float)), 0)
            << TypeName(type) << " cols=" << cols << " first=" << first << " n=" << n;
      }
    }
  }
}

TEST_P(MatMulVsRefTest, BatchInvariant) {
  ThreadPool pool(2);
  ExpectBatchInvariant(GetParam(), [&](const WeightView& w, const float* x, int64_t n, float* y) {
    MatMul(w, x, n, y, pool);
  });
}

TEST_P(MatMulVsRefTest, ScalarKernelsBatchInvariant) {
  ThreadPool pool(2);
  ExpectBatchInvariant(GetParam(), [&](const WeightView& w, const float* x, int64_t n, float* y) {
    matmul_internal::MatMulScalar(w, x, n, y, &pool);
  });
}

// The K-quant GEMM (the prompt path, n > 1) at its tile edges: row counts around its
// 8- and 16-row groups and token counts around its token tiles, each output bit-identical
// to the reference and to the token decoded alone (the n == 1 kernel).
TEST(MatMulKQuantTest, GemmTileEdgesBitIdentical) {
  ThreadPool pool(2);
  uint32_t seed = 1300;
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    for (int64_t rows : {1, 7, 8, 9, 15, 16, 17, 31, 40}) {
      const int64_t cols = 768, total = 21;
      ++seed;
      TestWeights w = MakeWeights(type, rows, cols, seed);
      const auto [x, single] = SingleTokens(w.view, total, seed + 1,
                                            [&](const WeightView& v, const float* in, int64_t n,
                                                float* out) { MatMul(v, in, n, out, pool); });
      std::vector<float> want(total * rows);
      ref::MatMul(w.view, x.data(), total, want.data());
      ASSERT_EQ(std::memcmp(single.data(), want.data(), want.size() * sizeof(float)), 0)
          << TypeName(type) << " rows=" << rows << " decode";
      for (int64_t n : {2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 21}) {
        for (int64_t first : {int64_t{0}, total - n}) {
          std::vector<float> y(n * rows, -1.0f);
          MatMul(w.view, x.data() + first * cols, n, y.data(), pool);
          ASSERT_EQ(std::memcmp(y.data(), want.data() + first * rows, y.size() * sizeof(float)), 0)
              << TypeName(type) << " rows=" << rows << " n=" << n << " first=" << first;
        }
      }
    }
  }
}

#if defined(__x86_64__)
// The row kernels MatMul uses for decode and small batches, called directly for every n
// up to past their token tiles (whatever n MatMul's GEMM threshold starts at): each
// token's outputs equal MatMul's for that token alone.
TEST(MatMulRowKernelsTest, BatchInvariantForEveryN) {
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "no AVX2";
  const bool avx512 = KernelCpuIsa() == CpuIsa::kAvx512Vnni;
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::kQ4_0, GgmlType::kQ8_0}) {
    for (int64_t rows : {16, 37, 100}) {
      const int64_t cols = 512, total = 19;
      TestWeights w = MakeWeights(type, rows, cols, 300 + rows);
      const auto [x, single] = SingleTokens(w.view, total, 301 + rows,
                                            [&](const WeightView& v, const float* in, int64_t n,
                                                float* out) { MatMul(v, in, n, out, pool); });
      for (int64_t n = 1; n <= total; ++n) {
        for (int kernel = 0; kernel < (avx512 ? 3 : 2); ++kernel) {
          std::vector<float> y(n * rows, -1.0f);
          if (kernel == 2) {
            matmul_internal::avx512::QuantizedRowsMatMul(w.view, x.data(), n, y.data(), pool);
          } else {
            matmul_internal::avx2::QuantizedRowsMatMul(w.view, x.data(), n, y.data(), pool,
                                                       kernel == 0 ? 4 : 1);
          }
          ASSERT_EQ(std::memcmp(y.data(), single.data(), y.size() * sizeof(float)), 0)
              << TypeName(type) << " rows=" << rows << " n=" << n << " kernel=" << kernel;
        }
      }
    }
  }
}
#endif

#if defined(__x86_64__)
// Float weights (F32, F16, BF16) through the AVX2 kernels called directly, for every n and
// at widths with tails past the 16- and 8-value steps: each token's outputs equal MatMul's
// for that token alone, and stay close to the reference.
TEST(MatMulFloatTest, Avx2BatchInvariantForEveryN) {
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "no AVX2";
  ThreadPool pool(2);
  uint32_t seed = 700;
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    for (int64_t rows : {1, 5, 37}) {
      for (int64_t cols : {8, 25, 33, 40, 100, 2051}) {
        const int64_t total = 19;
        seed += 2;
        TestWeights w = MakeWeights(type, rows, cols, seed);
        const auto [x, single] = SingleTokens(w.view, total, seed + 1,
                                              [&](const WeightView& v, const float* in, int64_t n,
                                                  float* out) { MatMul(v, in, n, out, pool); });
        std::vector<float> want(total * rows);
        ref::MatMul(w.view, x.data(), total, want.data());
        ASSERT_LT(Nmse(single, want), 1e-9)
            << TypeName(type) << " rows=" << rows << " cols=" << cols;
        for (int64_t n = 1; n <= total; ++n) {
          std::vector<float> y(n * rows, -1.0f);
          matmul_internal::avx2::MatMul(w.view, x.data(), n, y.data(), pool);
          ASSERT_EQ(std::memcmp(y.data(), single.data(), y.size() * sizeof(float)), 0)
              << TypeName(type) << " rows=" << rows << " cols=" << cols << " n=" << n;
        }
      }
    }
  }
}

// BF16 has AVX2 kernels like F16 (info reports them).
TEST(MatMulFloatTest, Bf16KernelsAreAvx2) {
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "no AVX2";
  const MatMulKernelNames bf16 = MatMulKernelsFor(GgmlType::kBF16);
  const MatMulKernelNames f16 = MatMulKernelsFor(GgmlType::kF16);
  EXPECT_EQ(bf16.decode, "avx2");
  EXPECT_EQ(bf16.decode, f16.decode);
  EXPECT_EQ(bf16.prompt, f16.prompt);
}
#endif

#if defined(__x86_64__)
// The K-quant GEMMs called directly for every n from 1 (whatever n MatMul starts using them
// at): each token's outputs equal MatMul's for that token alone (the decode kernel).
TEST(MatMulKQuantTest, GemmsBatchInvariantForEveryN) {
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "no AVX2";
  const bool avx512 = KernelCpuIsa() == CpuIsa::kAvx512Vnni;
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    for (int64_t rows : {16, 37}) {
      const int64_t cols = 512, total = 19;
      TestWeights w = MakeWeights(type, rows, cols, 500 + rows);
      const auto [x, single] = SingleTokens(w.view, total, 501 + rows,
                                            [&](const WeightView& v, const float* in, int64_t n,
                                                float* out) { MatMul(v, in, n, out, pool); });
      for (int64_t n = 1; n <= total; ++n) {
        for (int kernel = 0; kernel < (avx512 ? 2 : 1); ++kernel) {
          std::vector<float> y(n * rows, -1.0f);
          if (kernel == 1) {
            matmul_internal::avx512::Gemm(w.view, x.data(), n, y.data(), pool);
          } else {
            matmul_internal::avx2::Gemm(w.view, x.data(), n, y.data(), pool);
          }
          ASSERT_EQ(std::memcmp(y.data(), single.data(), y.size() * sizeof(float)), 0)
              << TypeName(type) << " rows=" << rows << " n=" << n << " kernel=" << kernel;
        }
      }
    }
  }
}
#endif

TEST_P(MatMulVsRefTest, LargeShapeCloseToReference) {
  // A TinyLlama-like shape with outlier activation channels.
  const GgmlType type = GetParam();
  const int64_t rows = 96, cols = 2048, n = 9;
  TestWeights w = MakeWeights(type, rows, cols, 5);
  std::vector<float> x = RandomFloats(n * cols, 6);
  for (int64_t t = 0; t < n; ++t) x[t * cols + 17] = 300.0f;
  std::vector<float> got(n * rows), want(n * rows);
  ThreadPool pool(2);
  MatMul(w.view, x.data(), n, got.data(), pool);
  ref::MatMul(w.view, x.data(), n, want.data());
  EXPECT_LT(Nmse(got, want), 1e-10);
}

// Caps the kernel level for one scope.
class ScopedCpuIsaCap {
 public:
  explicit ScopedCpuIsaCap(CpuIsa cap) : previous_(SetCpuIsaCap(cap)) {}
  ~ScopedCpuIsaCap() { SetCpuIsaCap(previous_); }

 private:
  CpuIsa previous_;
};

#if defined(__x86_64__)
// The kernels of each x86 level above AVX2, on the CPUs that have it: the int dot products
// are exact and the float steps the same, so the output is bit-identical to the AVX2
// kernels' (which the tests above check against the scalar reference), and close to the
// reference itself.
class MatMulIsaTest : public ::testing::TestWithParam<std::tuple<CpuIsa, GgmlType>> {};

TEST_P(MatMulIsaTest, BitIdenticalToAvx2AndCloseToReference) {
  const auto [isa, type] = GetParam();
  if (!CpuHasAvx2Fma() || static_cast<int>(DetectedCpuIsa()) < static_cast<int>(isa)) {
    GTEST_SKIP() << "CPU lacks this kernel level";
  }
  ThreadPool pool(2);
  uint32_t seed = 500;
  for (int64_t rows : {1, 7, 16, 33, 64, 100}) {
    for (int64_t cols : {32, 96, 512}) {
      for (int64_t n : {1, 2, 7, 8, 9, 17, 64}) {
        ++seed;
        TestWeights w = MakeWeights(type, rows, cols, seed);
        std::vector<float> x = RandomFloats(n * cols, seed + 1000);
        x[0] = 300.0f;  // an outlier channel: full-range int8 activations
        std::vector<float> got(n * rows, -1.0f), avx2(n * rows, -2.0f), want(n * rows);
        {
          ScopedCpuIsaCap cap(isa);
          ASSERT_EQ(KernelCpuIsa(), isa);
          MatMul(w.view, x.data(), n, got.data(), pool);
        }
        {
          ScopedCpuIsaCap cap(CpuIsa::kAvx2);
          MatMul(w.view, x.data(), n, avx2.data(), pool);
        }
        ref::MatMul(w.view, x.data(), n, want.data());
        ASSERT_EQ(std::memcmp(got.data(), avx2.data(), got.size() * sizeof(float)), 0)
            << TypeName(type) << " rows=" << rows << " cols=" << cols << " n=" << n;
        ASSERT_LT(Nmse(got, want), 1e-9)
            << TypeName(type) << " rows=" << rows << " cols=" << cols << " n=" << n;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(X86Levels, MatMulIsaTest,
                         ::testing::Combine(::testing::Values(CpuIsa::kAvx512Vnni),
                                            ::testing::Values(GgmlType::kQ8_0, GgmlType::kQ4_0)),
                         [](const ::testing::TestParamInfo<std::tuple<CpuIsa, GgmlType>>& info) {
                           const char* level = std::get<0>(info.param) == CpuIsa::kAvx512Vnni
                                                   ? "avx512vnni"
                                                   : "avxvnni";
                           return std::string(level) + "_" + TypeName(std::get<1>(info.param));
                         });
#endif

#if defined(__aarch64__)
TEST(MatMulNeonTest, ActivationQuantizerBitIdenticalToScalar) {
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    const int64_t cols = 32 * 40;
    std::vector<float> x = RandomFloats(cols, seed, 0.01f * seed);
    x[0] = 127.0f;  // exact ties after scaling: this block's amax 127 gives id 1
    x[1] = 2.5f;
    x[2] = -3.5f;
    x[3] = 0.5f;
    for (int j = 32; j < 64; ++j) x[j] = 0.0f;  // an all-zero block
    x[70] = std::nanf("");                      // max ignores NaN, as std::fmax does
    std::vector<BlockQ8_0> a(cols / 32), b(cols / 32);
    matmul_internal::QuantizeActivationRow(x.data(), cols, a.data());
    matmul_internal::neon::QuantizeActivationRow(x.data(), cols, b.data());
    ASSERT_EQ(std::memcmp(a.data(), b.data(), 2 * sizeof(BlockQ8_0)), 0) << seed;
    // The NaN's own quant is implementation-defined; compare the other blocks.
    ASSERT_EQ(a[2].d, b[2].d) << seed;
    ASSERT_EQ(std::memcmp(a.data() + 3, b.data() + 3, (a.size() - 3) * sizeof(BlockQ8_0)), 0)
        << seed;
    EXPECT_EQ(a[0].qs[1], 2);  // half to even
    EXPECT_EQ(a[0].qs[2], -4);
  }
}

TEST(MatMulNeonTest, Q8KActivationQuantizerBitIdenticalToScalar) {
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    std::vector<float> x = Q8KEdgeCases(seed);
    const int64_t cols = static_cast<int64_t>(x.size());
    // Block 3: the max ignores NaN, as the reference's comparisons do.
    x[800] = std::nanf("");
    std::vector<BlockQ8_K> a(cols / 256), b(cols / 256);
    matmul_internal::QuantizeActivationRowQ8K(x.data(), cols, a.data());
    matmul_internal::neon::QuantizeActivationRowQ8K(x.data(), cols, b.data());
    ASSERT_EQ(std::memcmp(a.data(), b.data(), 3 * sizeof(BlockQ8_K)), 0) << seed;
    // The NaN's own quant (and its 16-value sum) is implementation-defined; compare the
    // rest of its block and the other blocks.
    ASSERT_EQ(a[3].d, b[3].d) << seed;
    for (int j = 0; j < 256; ++j) {
      if (j != 800 - 768) {
        ASSERT_EQ(a[3].qs[j], b[3].qs[j]) << seed << " " << j;
      }
    }
    for (int j = 0; j < 16; ++j) {
      if (j != (800 - 768) / 16) {
        ASSERT_EQ(a[3].bsums[j], b[3].bsums[j]) << seed << " " << j;
      }
    }
    ASSERT_EQ(std::memcmp(a.data() + 4, b.data() + 4, (a.size() - 4) * sizeof(BlockQ8_K)), 0)
        << seed;
    EXPECT_EQ(a[0].qs[7], -127);
    EXPECT_EQ(a[0].qs[1], 2);  // half to even
    EXPECT_EQ(a[0].qs[2], -4);
    EXPECT_EQ(a[2].qs[600 - 512], -127);
  }
}

// The aarch64 kernel levels this CPU has (ARMv8.0 NEON everywhere; sdot where the kernel
// reports HWCAP_ASIMDDP): quantized products are bit-identical to the scalar reference
// (exact int block sums, the reference's float steps), for every token count, so decode
// (n == 1) and prompt rows (n > 1) agree bit for bit too.
class MatMulNeonLevelTest : public ::testing::TestWithParam<std::tuple<CpuIsa, GgmlType>> {};

TEST_P(MatMulNeonLevelTest, QuantizedBitIdenticalToReference) {
  const auto [isa, type] = GetParam();
  if (static_cast<int>(DetectedCpuIsa()) < static_cast<int>(isa)) {
    GTEST_SKIP() << "CPU lacks this kernel level (qemu: -cpu cortex-a76 or max has dotprod)";
  }
  ScopedCpuIsaCap cap(isa);
  ASSERT_EQ(KernelCpuIsa(), isa);
  ThreadPool pool(2);
  uint32_t seed = 700;
  // K-quants: whole 256-value super-blocks.
  const std::vector<int64_t> col_options =
      KQuant(type) ? std::vector<int64_t>{256, 512, 768} : std::vector<int64_t>{32, 96, 512};
  for (int64_t rows : {1, 5, 16, 67}) {
    for (int64_t cols : col_options) {
      for (int64_t n : {1, 2, 7, 17}) {
        ++seed;
        TestWeights w = MakeWeights(type, rows, cols, seed);
        std::vector<float> x = RandomFloats(n * cols, seed + 1000);
        x[0] = 300.0f;  // an outlier channel: full-range int8 activations
        std::vector<float> got(n * rows, -1.0f), want(n * rows, -2.0f);
        MatMul(w.view, x.data(), n, got.data(), pool);
        ref::MatMul(w.view, x.data(), n, want.data());
        ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
            << TypeName(type) << " rows=" << rows << " cols=" << cols << " n=" << n;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Aarch64Levels, MatMulNeonLevelTest,
                         ::testing::Combine(::testing::Values(CpuIsa::kNeon, CpuIsa::kNeonDotProd),
                                            ::testing::ValuesIn(kQuantTypes)),
                         [](const ::testing::TestParamInfo<std::tuple<CpuIsa, GgmlType>>& info) {
                           const char* level =
                               std::get<0>(info.param) == CpuIsa::kNeonDotProd ? "dotprod" : "neon";
                           return std::string(level) + "_" + TypeName(std::get<1>(info.param));
                         });
#endif

INSTANTIATE_TEST_SUITE_P(AllTypes, MatMulVsRefTest,
                         ::testing::Values(GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16,
                                           GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1,
                                           GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_K,
                                           GgmlType::kQ5_K, GgmlType::kQ6_K),
                         [](const ::testing::TestParamInfo<GgmlType>& info) {
                           return TypeName(info.param);
                         });

}  // namespace
}  // namespace tandem
