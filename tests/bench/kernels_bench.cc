// MatMul throughput at TinyLlama-1.1B shapes, next to a plain streaming read of the same
// number of bytes (the bandwidth ceiling for decode).
//
//   kernels_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// n == 1 (decode) reports bytes/s of weights read; n > 1 (prompt) reports FLOP/s.
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/kernels/cpu_features.h"
#include "common/kernels/matmul.h"
#include "common/kernels/matmul_internal.h"
#include "common/kernels/ops.h"
#include "common/tensor/quantize.h"

namespace tandem {
namespace {

// Cheap deterministic pseudo-random floats in [-1, 1) (xorshift), so setting up the
// 65M-value output head takes well under a second.
void FillRandom(float* v, int64_t n, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    v[i] = static_cast<float>(static_cast<int32_t>(s)) * 0x1p-31f;
  }
}

struct Matrix {
  std::vector<uint8_t> bytes;
  WeightView view;
};

// Quantized weights, built once per (type, rows, cols).
const Matrix& GetMatrix(GgmlType type, int64_t rows, int64_t cols) {
  static auto* cache = new std::map<std::tuple<int, int64_t, int64_t>, std::unique_ptr<Matrix>>;
  auto& slot = (*cache)[{static_cast<int>(type), rows, cols}];
  if (!slot) {
    slot = std::make_unique<Matrix>();
    const size_t row_bytes = RowBytes(type, cols);
    slot->bytes.resize(row_bytes * rows);
    std::vector<float> row(cols);
    for (int64_t r = 0; r < rows; ++r) {
      FillRandom(row.data(), cols, static_cast<uint32_t>(r));
      QuantizeRow(type, row.data(), slot->bytes.data() + r * row_bytes, cols);
    }
    slot->view = WeightView{type, rows, cols, slot->bytes.data()};
  }
  return *slot;
}

ThreadPool& GetPool(int threads) {
  static auto* pools = new std::map<int, std::unique_ptr<ThreadPool>>;
  auto& p = (*pools)[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return *p;
}

// Args: type, rows, cols, n, threads.
void BM_MatMul(benchmark::State& state) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int64_t rows = state.range(1), cols = state.range(2), n = state.range(3);
  ThreadPool& pool = GetPool(static_cast<int>(state.range(4)));
  const Matrix& w = GetMatrix(type, rows, cols);
  std::vector<float> x(n * cols), y(n * rows);
  FillRandom(x.data(), x.size(), 99);
  for (auto _ : state) {
    MatMul(w.view, x.data(), n, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(TraitsOf(type).name));
  if (n == 1) {
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.bytes.size()));
  } else {
    state.counters["FLOPS"] =
        benchmark::Counter(2.0 * rows * cols * n, benchmark::Counter::kIsIterationInvariantRate);
  }
}

#if defined(__x86_64__)
// Sums `bytes` bytes with 256-bit loads, 4 independent accumulators.
__attribute__((target("avx2"))) uint64_t SumBytes(const uint8_t* p, size_t bytes) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t i = 0;
  for (; i + 128 <= bytes; i += 128) {
    const __m256i* v = reinterpret_cast<const __m256i*>(p + i);
    acc0 = _mm256_add_epi64(acc0, _mm256_loadu_si256(v));
    acc1 = _mm256_add_epi64(acc1, _mm256_loadu_si256(v + 1));
    acc2 = _mm256_add_epi64(acc2, _mm256_loadu_si256(v + 2));
    acc3 = _mm256_add_epi64(acc3, _mm256_loadu_si256(v + 3));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(acc0, acc1), _mm256_add_epi64(acc2, acc3)));
  uint64_t s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < bytes; ++i) s += p[i];
  return s;
}
#else
// Sums `bytes` bytes as 64-bit words, 4 independent accumulators (vectorized by the compiler).
uint64_t SumBytes(const uint8_t* p, size_t bytes) {
  uint64_t acc[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    for (int j = 0; j < 4; ++j) {
      uint64_t v;
      std::memcpy(&v, p + i + 8 * j, sizeof(v));
      acc[j] += v;
    }
  }
  uint64_t s = acc[0] + acc[1] + acc[2] + acc[3];
  for (; i < bytes; ++i) s += p[i];
  return s;
}
#endif

// The decode ceiling: read the same bytes as BM_MatMul's weights, split like its rows.
// Args: type, rows, cols, threads.
void BM_StreamRead(benchmark::State& state) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int64_t rows = state.range(1), cols = state.range(2);
  ThreadPool& pool = GetPool(static_cast<int>(state.range(3)));
  const Matrix& w = GetMatrix(type, rows, cols);
  const size_t row_bytes = RowBytes(type, cols);
  for (auto _ : state) {
    std::vector<uint64_t> sums(pool.num_threads());
    pool.Run([&](int index, int count) {
      int64_t r0, r1;
      ThreadPool::Partition(rows, 8, index, count, &r0, &r1);
      sums[index] = SumBytes(w.bytes.data() + r0 * row_bytes, (r1 - r0) * row_bytes);
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetLabel(std::string(TraitsOf(type).name));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.bytes.size()));
}

// Fork-join cost of an empty Run.
void BM_PoolRun(benchmark::State& state) {
  ThreadPool& pool = GetPool(static_cast<int>(state.range(0)));
  for (auto _ : state) pool.Run([](int, int) {});
}

constexpr int kShapes[][2] = {{2048, 2048}, {256, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}};
constexpr GgmlType kTypes[] = {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kF16, GgmlType::kBF16};

void DecodeArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (GgmlType t : kTypes) {
      for (const auto& s : kShapes) b->Args({static_cast<int>(t), s[0], s[1], 1, threads});
    }
  }
}

void StreamArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (GgmlType t : kTypes) {
      for (const auto& s : kShapes) b->Args({static_cast<int>(t), s[0], s[1], threads});
    }
  }
}

void PromptArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (GgmlType t : kTypes) {
      for (int n : {64, 256}) {
        for (const auto& s : kShapes) {
          if (s[0] == 32000 && n == 256) continue;  // the head only sees the last position
          b->Args({static_cast<int>(t), s[0], s[1], n, threads});
        }
      }
    }
  }
}

// Copies of w back to back, 256 MiB in all, cycled through so that every product reads
// its weights from DRAM (the copies together exceed the last-level cache).
const std::vector<uint8_t>& DramCopies(const Matrix& w, GgmlType type, int64_t rows, int64_t cols) {
  constexpr size_t kDramBytes = size_t{256} << 20;
  static auto* dram = new std::map<std::tuple<int, int64_t, int64_t>, std::vector<uint8_t>>;
  std::vector<uint8_t>& big = (*dram)[{static_cast<int>(type), rows, cols}];
  if (big.empty()) {
    const size_t copies = kDramBytes / w.bytes.size() + 1;
    big.resize(copies * w.bytes.size());
    for (size_t c = 0; c < copies; ++c) {
      std::memcpy(big.data() + c * w.bytes.size(), w.bytes.data(), w.bytes.size());
    }
  }
  return big;
}

// Decode batches (the worker's continuous batching): n rows through one FFN-shaped
// matrix, with the weights coming from DRAM as in a model (the bench walks copies that
// together exceed the last-level cache). A batch costs much less than n decode steps
// only if the kernel streams each weight once, at close to the streaming-read rate.
// Args: type, rows, cols, n, threads, path: 0 MatMul as dispatched; for picking the batch
// size from which MatMul uses the GEMM (BM_MatMulBatchPath), the kernels side by side on
// the same weights: 1 the row kernels (tokens sharing each weight load), 2 the row kernels
// one token at a time (n decode steps), 3 the AVX2 GEMM, 4 the AVX-512 VNNI GEMM, 5 the
// AVX-512 VNNI row kernels, 6 the portable scalar kernels (matmul_internal::MatMulScalar).
void BM_MatMulBatch(benchmark::State& state) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int64_t rows = state.range(1), cols = state.range(2), n = state.range(3);
  ThreadPool& pool = GetPool(static_cast<int>(state.range(4)));
  const int path = static_cast<int>(state.range(5));
#if !defined(__x86_64__)
  if (path != 0 && path != 6) {
    state.SkipWithError("an x86 kernel path");
    return;
  }
#endif
  if ((path == 4 || path == 5) && KernelCpuIsa() != CpuIsa::kAvx512Vnni) {
    state.SkipWithError("no AVX-512 VNNI");
    return;
  }
  const Matrix& w = GetMatrix(type, rows, cols);
  const std::vector<uint8_t>& big = DramCopies(w, type, rows, cols);
  const size_t copies = big.size() / w.bytes.size();
  std::vector<float> x(n * cols), y(n * rows);
  FillRandom(x.data(), x.size(), 99);
  size_t c = 0;
  for (auto _ : state) {
    const WeightView view{type, rows, cols, big.data() + c * w.bytes.size()};
    switch (path) {
#if defined(__x86_64__)
      case 1:
        matmul_internal::avx2::QuantizedRowsMatMul(view, x.data(), n, y.data(), pool, 4);
        break;
      case 2:
        matmul_internal::avx2::QuantizedRowsMatMul(view, x.data(), n, y.data(), pool, 1);
        break;
      case 3:
        matmul_internal::avx2::Gemm(view, x.data(), n, y.data(), pool);
        break;
      case 4:
        matmul_internal::avx512::Gemm(view, x.data(), n, y.data(), pool);
        break;
      case 5:
        matmul_internal::avx512::QuantizedRowsMatMul(view, x.data(), n, y.data(), pool);
        break;
#endif
      case 6:
        matmul_internal::MatMulScalar(view, x.data(), n, y.data(), &pool);
        break;
      default:
        MatMul(view, x.data(), n, y.data(), pool);
        break;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    c = (c + 1) % copies;
  }
  static constexpr const char* kPaths[] = {"matmul",      "rows",        "rows 1 by 1", "avx2 gemm",
                                           "avx512 gemm", "avx512 rows", "scalar"};
  state.SetLabel(std::string(TraitsOf(type).name) + " " + kPaths[path]);
  state.counters["rows_per_s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["us_per_row"] = benchmark::Counter(
      static_cast<double>(n) * 1e-6,
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BatchArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (GgmlType t : kTypes) {
      for (int n : {1, 2, 4, 8, 16, 32}) b->Args({static_cast<int>(t), 5632, 2048, n, threads, 0});
    }
  }
}

// K-quant decode (n == 1) at the FFN down shape (2048 x 5632), weights from DRAM.
void KQuantDecodeArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (GgmlType t : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
      b->Args({static_cast<int>(t), 2048, 5632, 1, threads, 0});
    }
  }
}

// K-quant prompt processing (n > 1) at the FFN shapes, 2 threads, weights from DRAM.
void KQuantPromptArgs(benchmark::internal::Benchmark* b) {
  for (GgmlType t : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    for (const auto& s : {kShapes[2], kShapes[3]}) {
      for (int n : {2, 4, 8, 16, 64, 256}) b->Args({static_cast<int>(t), s[0], s[1], n, 2, 0});
      // The GEMMs next to MatMul's small-batch path, for picking the threshold.
      for (int n : {2, 3, 4, 6, 8, 12, 16}) {
        for (int path : {0, 3, 4}) b->Args({static_cast<int>(t), s[0], s[1], n, 2, path});
      }
    }
  }
}

// Float weights with 16-bit values (F16, BF16) in decode at the FFN down shape (2048 x 5632),
// weights from DRAM: MatMul next to the scalar kernels (BF16's path before its AVX2 kernel).
void HalfDecodeArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (GgmlType t : {GgmlType::kF16, GgmlType::kBF16}) {
      for (int path : {0, 6}) b->Args({static_cast<int>(t), 2048, 5632, 1, threads, path});
    }
  }
}

void BatchPathArgs(benchmark::internal::Benchmark* b) {
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ8_0}) {
    for (const auto& s : {kShapes[2], kShapes[0], kShapes[3]}) {
      for (int n : {1, 2, 3, 4, 6, 8, 12, 16}) {
        for (int path : {0, 1, 2, 3, 4, 5}) {
          b->Args({static_cast<int>(t), s[0], s[1], n, 2, path});
        }
      }
    }
  }
}

// Q4_1 / Q5_0 / Q5_1 (the fallback types in K-quant files): the kernels next to the
// portable scalar path they replace, decode and a batch of 16, weights from DRAM.
// Args: type, rows, cols, n, threads, scalar (1: matmul_internal::MatMulScalar).
void BM_MatMulFallbackTypes(benchmark::State& state) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int64_t rows = state.range(1), cols = state.range(2), n = state.range(3);
  ThreadPool& pool = GetPool(static_cast<int>(state.range(4)));
  const bool scalar = state.range(5) != 0;
  const Matrix& w = GetMatrix(type, rows, cols);
  std::vector<float> x(n * cols), y(n * rows);
  FillRandom(x.data(), x.size(), 99);
  for (auto _ : state) {
    if (scalar) {
      matmul_internal::MatMulScalar(w.view, x.data(), n, y.data(), &pool);
    } else {
      MatMul(w.view, x.data(), n, y.data(), pool);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(TraitsOf(type).name) + (scalar ? " scalar" : ""));
  state.counters["rows_per_s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

void FallbackTypeArgs(benchmark::internal::Benchmark* b) {
  for (GgmlType t : {GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1}) {
    for (int n : {1, 16}) {
      for (int scalar : {0, 1}) b->Args({static_cast<int>(t), 5632, 2048, n, 1, scalar});
    }
  }
}

BENCHMARK(BM_PoolRun)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_StreamRead)->Apply(StreamArgs)->UseRealTime();
BENCHMARK(BM_MatMul)->Name("BM_MatMulDecode")->Apply(DecodeArgs)->UseRealTime();
BENCHMARK(BM_MatMul)->Name("BM_MatMulPrompt")->Apply(PromptArgs)->UseRealTime();
BENCHMARK(BM_MatMulBatch)->Apply(BatchArgs)->UseRealTime();
BENCHMARK(BM_MatMulBatch)->Name("BM_MatMulKQuantDecode")->Apply(KQuantDecodeArgs)->UseRealTime();
BENCHMARK(BM_MatMulBatch)->Name("BM_MatMulKQuantPrompt")->Apply(KQuantPromptArgs)->UseRealTime();
BENCHMARK(BM_MatMulBatch)->Name("BM_MatMulHalfDecode")->Apply(HalfDecodeArgs)->UseRealTime();
BENCHMARK(BM_MatMulBatch)->Name("BM_MatMulBatchPath")->Apply(BatchPathArgs)->UseRealTime();
BENCHMARK(BM_MatMulFallbackTypes)->Apply(FallbackTypeArgs)->UseRealTime();

}  // namespace
}  // namespace tandem

BENCHMARK_MAIN();
