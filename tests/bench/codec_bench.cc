// Hidden-state codec throughput at dim 2048 (decode step: n = 1; prompt chunk: n = 64),
// CRC-32C throughput, and, before the timings, bytes per token and the error of each
// codec on synthetic LLaMA-like rows (heavy tails plus a few massive channels).
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/codec/crc32c.h"
#include "common/codec/hidden_codec.h"
#include "common/codec/q4_codec.h"

namespace tandem {
namespace {

constexpr int32_t kDim = 2048;

std::vector<float> LlamaLikeRows(int32_t n, int32_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> body(5.0f);
  std::vector<float> x(static_cast<size_t>(n) * dim);
  for (float& v : x) v = body(rng);
  for (int32_t r = 0; r < n; ++r) {
    for (int32_t c : {17, 555, 1030}) x[r * dim + c % dim] = (c % 2 ? 800.0f : -1200.0f);
  }
  return x;
}

void BM_Encode(benchmark::State& state) {
  const auto kind = static_cast<CodecKind>(state.range(0));
  const auto n = static_cast<int32_t>(state.range(1));
  const std::vector<float> hidden = LlamaLikeRows(n, kDim, 1);
  std::string payload;
  for (auto _ : state) {
    if (!EncodeHidden(kind, hidden, n, kDim, &payload).ok()) state.SkipWithError("encode");
    benchmark::DoNotOptimize(payload.data());
  }
  state.SetLabel(std::string(CodecKindName(kind)));
  state.SetBytesProcessed(state.iterations() * hidden.size() * sizeof(float));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Decode(benchmark::State& state) {
  const auto kind = static_cast<CodecKind>(state.range(0));
  const auto n = static_cast<int32_t>(state.range(1));
  const std::vector<float> hidden = LlamaLikeRows(n, kDim, 1);
  std::string payload;
  if (!EncodeHidden(kind, hidden, n, kDim, &payload).ok()) state.SkipWithError("encode");
  std::vector<float> out(hidden.size());
  for (auto _ : state) {
    if (!DecodeHidden(kind, payload, n, kDim, absl::MakeSpan(out)).ok()) {
      state.SkipWithError("decode");
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(std::string(CodecKindName(kind)));
  state.SetBytesProcessed(state.iterations() * hidden.size() * sizeof(float));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

void CodecArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"codec", "n"});
  for (CodecKind kind : kAllCodecKinds) {
    for (int n : {1, 64}) b->Args({static_cast<int>(kind), n});
  }
}

BENCHMARK(BM_Encode)->Apply(CodecArgs);
BENCHMARK(BM_Decode)->Apply(CodecArgs);

void BM_Crc32c(benchmark::State& state) {
  std::string data(static_cast<size_t>(state.range(1)), 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131);
  const bool portable = state.range(0) == 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(portable ? Crc32cExtendPortable(0, data) : Crc32c(data));
  }
  state.SetLabel(portable ? "portable" : (Crc32cIsHardwareAccelerated() ? "sse4.2" : "portable"));
  state.SetBytesProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_Crc32c)->ArgNames({"hw", "bytes"})->ArgsProduct({{0, 1}, {2176, 1 << 20}});

double Nmse(const std::vector<float>& x, const std::vector<float>& y, bool skip_massive) {
  double err = 0, sig = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (skip_massive && std::fabs(x[i]) >= 500.0f) continue;
    err += (double{y[i]} - x[i]) * (double{y[i]} - x[i]);
    sig += double{x[i]} * x[i];
  }
  return err / sig;
}

void PrintSizesAndAccuracy() {
  std::printf("%-10s %14s %12s %8s %12s %14s\n", "codec", "B/token@2048", "B/token@64", "bits/val",
              "NMSE all", "NMSE non-massive");
  const int32_t n = 64;
  const std::vector<float> x = LlamaLikeRows(n, kDim, 2);
  std::vector<float> y(x.size());
  std::string payload;
  auto row = [&](const char* name, const HiddenCodec& codec) {
    if (!codec.Encode(x, n, kDim, &payload).ok() ||
        !codec.Decode(payload, n, kDim, absl::MakeSpan(y)).ok()) {
      std::printf("%s: codec failed\n", name);
      return;
    }
    std::printf("%-10s %14zu %12zu %8.3f %12.3e %14.3e\n", name, codec.EncodedSize(1, kDim),
                codec.EncodedSize(1, 64), 8.0 * codec.RowBytes(kDim) / kDim, Nmse(x, y, false),
                Nmse(x, y, true));
  };
  for (CodecKind kind : kAllCodecKinds) {
    row(std::string(CodecKindName(kind)).c_str(), GetHiddenCodec(kind));
  }
  row("q4-plain", Q4Codec(0));  // no outlier channels, for comparison
  std::printf("\n");
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  tandem::PrintSizesAndAccuracy();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
