// What the four GEMM kernel files share beyond their ISA: the token-tile loop and the
// per-thread scratch (matmul_avx2_gemm.cc, matmul_avx2_kquants_gemm.cc,
// matmul_avx512_gemm.cc, matmul_avx512_kquants_gemm.cc).
//
// Plain C++, but each kernel file compiles it for its own ISA, so it must stay private to
// each file: everything here is in an unnamed namespace (internal linkage). One shared
// instantiation could hand an AVX2-only caller code compiled for AVX-512
// (kernels_isa_isolation checks that none leaks). In the AVX-512 files, include it before
// avx512_target_push.h like every other include.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace tandem::matmul_internal {
namespace {

// Calls tile(rn, tile_index) for each token tile of kTile tokens; the last tile gets the
// remaining count as rn (a compile-time constant for the kernels).
template <int kTile, typename TileFn>
void ForTokenTiles(int64_t n, const TileFn& tile) {
  const int64_t full = n / kTile;
  for (int64_t i = 0; i < full; ++i) tile(std::integral_constant<int, kTile>(), i);
  const int rest = static_cast<int>(n - full * kTile);
  if (rest == 0) return;
  [&]<int... kRn>(std::integer_sequence<int, kRn...>) {
    ((rest == kRn + 1 ? tile(std::integral_constant<int, kRn + 1>(), full) : void()), ...);
  }
  (std::make_integer_sequence<int, kTile - 1>());
}

// Per-thread scratch: the packed weight blocks of one row group and one quantized
// activation row.
template <typename PackedBlock, typename ActBlock>
struct GemmScratch {
  std::vector<PackedBlock> blocks;
  std::vector<ActBlock> row;
};

template <typename PackedBlock, typename ActBlock>
GemmScratch<PackedBlock, ActBlock>& ThreadScratch() {
  thread_local GemmScratch<PackedBlock, ActBlock> scratch;
  return scratch;
}

// `buf` grown to at least `size` elements (never shrunk: reused call after call).
template <typename T>
T* Buffer(std::vector<T>& buf, size_t size) {
  if (buf.size() < size) buf.resize(size);
  return buf.data();
}

}  // namespace
}  // namespace tandem::matmul_internal
