// AVX2 prompt-processing GEMM (n > 1): y[n, rows] = x[n, cols] * W^T.
//
// Layout trick: each SIMD lane owns one output row. A thread takes 8 weight rows at a
// time and repacks them (into a small per-thread buffer) so that one 256-bit load holds 4
// consecutive k-values of each of the 8 rows; a 4-byte broadcast of one token's
// activations then feeds maddubs, which leaves partial dot products for 8 rows in 8 lanes.
// No horizontal sums, one convert and one FMA per block for 8 outputs, and each repacked
// block is reused by every token. Weights are Q4_0 or Q8_0 against Q8_0 activations (Gemm
// passes the K-quants on to matmul_avx2_kquants_gemm.cc).
//
// Every output element is accumulated by one lane in block order:
// acc = fma(d_w * d_x, float(exact int block sum), acc), independent of the tiling, so
// results do not depend on the thread count, and the decode kernels (matmul_avx2.cc) do
// the same float steps, so neither on n or on a token's place in the batch.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "common/kernels/fp16_table.h"
#include "common/kernels/gemm_tiles.h"
#include "common/kernels/matmul_avx2_internal.h"
#include "common/kernels/matmul_internal.h"

namespace tandem::matmul_internal::avx2 {
namespace {

constexpr int kGroupRows = 8;  // rows per repacked group (one per lane)
constexpr int kQuantTile = 4;  // tokens per register tile, quantized weights

// 8 rows x one 32-value block: step s holds values 4s..4s+3 of row i in bytes 4i..4i+3.
struct alignas(32) PackedBlock {
  int8_t q[8][32];  // Q4_0: unsigned nibble values 0..15; Q8_0: the signed quants
  float d[8];       // row scales
};

// 4 tokens (one register tile) x one block of Q8_0 activations, so the kernel reads every
// token's data at fixed offsets from one pointer. Missing tokens of the last tile are 0.
struct alignas(32) PackedActBlock {
  int8_t q[8][16];  // step s: values 4s..4s+3 of token t in bytes 4t..4t+3
  int32_t init[4];  // Q4_0: per token, the int16 pair the accumulator starts from: -8 times
                    // the sum of the values landing in that int16 lane (offset correction)
  float d[4];       // token scales
};

// Repacks rows[0..8) (block pointers of one row group) into packed[nb].
template <typename Block>
void PackGroup(const Block* const* rows, int64_t nb, PackedBlock* packed) {
  const float* table = Fp16ToFp32Table();
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; ++b) {
    __m256i r[8], t[8];
    for (int i = 0; i < kGroupRows; ++i) {
      const Block& blk = rows[i][b];
      // The next group's rows stream in while this group is packed and multiplied: a
      // thread reads kGroupRows interleaved rows, which the hardware prefetcher alone
      // follows too late (measured: a batch of 2 from DRAM took 4x a decode step).
      if (sizeof(Block) > 32 || (b & 1) == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(&blk) + kGroupRows * nb * sizeof(Block),
                     _MM_HINT_T0);
      }
      if constexpr (sizeof(Block) == sizeof(BlockQ4_0)) {
        const __m128i p = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
        r[i] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(p, 4), p), low4);
      } else {
        r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs));
      }
      packed[b].d[i] = table[blk.d];
    }
    Transpose8x8(r, t);
    for (int s = 0; s < 8; ++s) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(packed[b].q[s]), t[s]);
    }
  }
}

// Q4_0 tile: 8 rows x RN tokens. Nibbles (0..15) are maddubs' unsigned operand; the int16
// accumulators start at the -8 offset correction, and since |q - 8| <= 8 every partial
// sum stays within 8 * 127 * 16, so int16 holds a whole block without overflow.
template <int RN>
void TileQ4_0(const PackedBlock* w, const PackedActBlock* x, int64_t nb, __m256* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[RN];
  for (int t = 0; t < RN; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedBlock& wb = w[b];
    const PackedActBlock& xb = x[b];
    __m256i isum[RN];
    for (int t = 0; t < RN; ++t) isum[t] = _mm256_set1_epi32(xb.init[t]);
      // Not unrolled: unrolling lets the compiler reassociate the int16 sums into a tree
      // that no longer fits in registers.
#pragma GCC unroll 1
    for (int s = 0; s < 8; ++s) {
      const __m256i wq = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb.q[s]));
      for (int t = 0; t < RN; ++t) {
        const __m256i xq = _mm256_set1_epi32(LoadDword(xb.q[s] + 4 * t));
        isum[t] = _mm256_add_epi16(isum[t], _mm256_maddubs_epi16(wq, xq));
      }
    }
    const __m256 dw = _mm256_load_ps(wb.d);
    for (int t = 0; t < RN; ++t) {
      const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(xb.d + t));
      acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_madd_epi16(isum[t], ones)), acc[t]);
    }
  }
  for (int t = 0; t < RN; ++t) out[t] = acc[t];
}

// Q8_0 tile: |w| is the unsigned operand and x takes w's sign; products of two int8 can
// fill an int16 pair, so each step is widened to int32 right away.
template <int RN>
void TileQ8_0(const PackedBlock* w, const PackedActBlock* x, int64_t nb, __m256* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[RN];
  for (int t = 0; t < RN; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedBlock& wb = w[b];
    const PackedActBlock& xb = x[b];
    __m256i isum[RN];
    for (int t = 0; t < RN; ++t) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 1
    for (int s = 0; s < 8; ++s) {
      const __m256i wq = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb.q[s]));
      const __m256i wabs = _mm256_abs_epi8(wq);
      for (int t = 0; t < RN; ++t) {
        const __m256i xq = _mm256_sign_epi8(_mm256_set1_epi32(LoadDword(xb.q[s] + 4 * t)), wq);
        isum[t] =
            _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, xq), ones));
      }
    }
    const __m256 dw = _mm256_load_ps(wb.d);
    for (int t = 0; t < RN; ++t) {
      const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(xb.d + t));
      acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum[t]), acc[t]);
    }
  }
  for (int t = 0; t < RN; ++t) out[t] = acc[t];
}

// Quantizes tokens [t0, t0 + count) (count <= kQuantTile) into one tile of packed blocks.
void PackActivationTile(const float* x, int64_t cols, int count, bool q4, BlockQ8_0* row_buf,
                        PackedActBlock* tile) {
  const int64_t nb = cols / kQK8_0;
  const float* table = Fp16ToFp32Table();
  std::memset(static_cast<void*>(tile), 0, sizeof(PackedActBlock) * nb);
  for (int t = 0; t < count; ++t) {
    QuantizeActivationRow(x + t * cols, cols, row_buf);
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_0& qb = row_buf[b];
      PackedActBlock& pb = tile[b];
      for (int s = 0; s < 8; ++s) std::memcpy(pb.q[s] + 4 * t, qb.qs + 4 * s, 4);
      pb.d[t] = table[qb.d];
      if (!q4) continue;
      // The kernel's int16 lanes sum bytes (4s, 4s+1) into the low and (4s+2, 4s+3) into
      // the high half of each dword.
      int32_t lo = 0, hi = 0;
      for (int s = 0; s < 8; ++s) {
        lo += qb.qs[4 * s] + qb.qs[4 * s + 1];
        hi += qb.qs[4 * s + 2] + qb.qs[4 * s + 3];
      }
      pb.init[t] =
          static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(-8 * lo)) |
                               (static_cast<uint32_t>(static_cast<uint16_t>(-8 * hi)) << 16));
    }
  }
}

using Scratch = GemmScratch<PackedBlock, BlockQ8_0>;

void GemmQuantized(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  const int64_t nb = w.cols / kQK8_0;
  const bool q4 = w.type == GgmlType::kQ4_0;
  const int64_t tiles = (n + kQuantTile - 1) / kQuantTile;

  thread_local std::vector<PackedActBlock> act_buf;
  PackedActBlock* act = Buffer(act_buf, tiles * nb);  // [tiles, nb]
  pool.ParallelFor(tiles, 1, [&](int64_t i0, int64_t i1) {
    Scratch& scratch = ThreadScratch<PackedBlock, BlockQ8_0>();
    BlockQ8_0* row = Buffer(scratch.row, nb);
    for (int64_t i = i0; i < i1; ++i) {
      const int count =
          static_cast<int>(n - i * kQuantTile < kQuantTile ? n - i * kQuantTile : kQuantTile);
      PackActivationTile(x + i * kQuantTile * w.cols, w.cols, count, q4, row, act + i * nb);
    }
  });

  const size_t row_bytes = RowBytes(w.type, w.cols);
  const int64_t groups = (w.rows + kGroupRows - 1) / kGroupRows;
  pool.ParallelFor(groups, 1, [&](int64_t g0, int64_t g1) {
    PackedBlock* packed = Buffer(ThreadScratch<PackedBlock, BlockQ8_0>().blocks, nb);
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t r0 = g * kGroupRows;
      const int valid = static_cast<int>(w.rows - r0 < kGroupRows ? w.rows - r0 : kGroupRows);
      // Missing rows of the last group repeat its first row; their lanes are not stored.
      auto row_ptr = [&](int i) { return w.data + (r0 + (i < valid ? i : 0)) * row_bytes; };
      if (q4) {
        const BlockQ4_0* rows[kGroupRows];
        for (int i = 0; i < kGroupRows; ++i)
          rows[i] = reinterpret_cast<const BlockQ4_0*>(row_ptr(i));
        PackGroup(rows, nb, packed);
      } else {
        const BlockQ8_0* rows[kGroupRows];
        for (int i = 0; i < kGroupRows; ++i)
          rows[i] = reinterpret_cast<const BlockQ8_0*>(row_ptr(i));
        PackGroup(rows, nb, packed);
      }
      ForTokenTiles<kQuantTile>(n, [&](auto rn, int64_t i) {
        constexpr int kRn = decltype(rn)::value;
        __m256 tile[kRn];
        if (q4) {
          TileQ4_0<kRn>(packed, act + i * nb, nb, tile);
        } else {
          TileQ8_0<kRn>(packed, act + i * nb, nb, tile);
        }
        StoreTile(tile, kRn, i * kQuantTile, r0, valid, w.rows, y);
      });
    }
  });
}

}  // namespace

bool GemmSupported(GgmlType type) {
  return type == GgmlType::kQ4_0 || type == GgmlType::kQ8_0 ||
         ActivationKindOf(type) == ActivationKind::kQ8_K;
}

void Gemm(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (ActivationKindOf(w.type) == ActivationKind::kQ8_K) {
    KQuantGemm(w, x, n, y, pool);
    return;
  }
  GemmQuantized(w, x, n, y, pool);
}

}  // namespace tandem::matmul_internal::avx2
