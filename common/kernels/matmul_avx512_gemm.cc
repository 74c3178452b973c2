// AVX-512 VNNI prompt-processing GEMM (n > 1) for Q4_0 and Q8_0 weights:
// y[n, rows] = x[n, cols] * W^T. Called only when KernelCpuIsa() is kAvx512Vnni.
//
// The scheme of matmul_avx2_gemm.cc at twice the width: each zmm lane owns one of 16
// weight rows, repacked per thread so that one 512-bit load holds 4 consecutive k-values of
// each row, and a 4-byte broadcast of one token's activations feeds vpdpbusd. vpdpbusd
// multiplies 4 unsigned weight bytes by 4 signed activation bytes and adds them to the
// int32 lane in one instruction (AVX2 needs maddubs, madd and an add, through int16).
// The unsigned operand is the weights: Q4_0 nibbles (0..15) as stored, Q8_0 quants + 128.
// Each block's int32 sum starts at -8 or -128 times the activation block's sum, which
// takes the offset back out exactly. The float steps per block are the AVX2 GEMM's, so
// the results are bit-identical to it (and independent of the thread count).
//
// Compiled for AVX-512 through avx512_target_push.h after the includes (why there: see it).
#include <immintrin.h>

#include <cstring>
#include <utility>
#include <vector>

#include "common/kernels/fp16_table.h"
#include "common/kernels/gemm_tiles.h"
#include "common/kernels/matmul_internal.h"

// clang-format off: after every other include
#include "common/kernels/avx512_target_push.h"       // kernels below
#include "common/kernels/matmul_avx512_transpose.h"  // inside the AVX-512 region
// clang-format on

namespace tandem::matmul_internal::avx512 {
namespace {

constexpr int kGroupRows = 16;  // rows per repacked group, one per zmm lane
constexpr int kTokenTile = 8;   // tokens per register tile

// 16 rows x one 32-value block: step s holds values 4s..4s+3 of row i in bytes 4i..4i+3.
struct alignas(64) PackedBlock {
  uint8_t q[8][64];  // Q4_0: the nibbles 0..15; Q8_0: the quants + 128
  float d[16];       // row scales
};
static_assert(sizeof(PackedBlock) == 576);

// kTokenTile tokens x one block of Q8_0 activations, read at fixed offsets by the kernel.
// Missing tokens of the last tile are all zero.
struct alignas(64) PackedActBlock {
  int8_t q[8][4 * kTokenTile];  // step s: values 4s..4s+3 of token t in bytes 4t..4t+3
  int32_t init[kTokenTile];     // per token: -(weight offset) * sum of the block's values
  float d[kTokenTile];          // token scales
};
static_assert(sizeof(PackedActBlock) == 320);

inline int32_t LoadDword(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Repacks rows[0..16) (block pointers of one row group) into packed[nb].
template <typename Block>
void PackGroup(const Block* const* rows, int64_t nb, PackedBlock* packed) {
  const float* table = Fp16ToFp32Table();
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    __m256i r[kGroupRows];
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
        r[i] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs)),
                                bias);  // q + 128 as unsigned
      }
      packed[b].d[i] = table[blk.d];
    }
    __m512i z[8], t[8];
    for (int i = 0; i < 8; ++i) {
      z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(r[i]), r[i + 8], 1);
    }
    Transpose16x8(z, t);
    for (int s = 0; s < 8; ++s) _mm512_store_si512(packed[b].q[s], t[s]);
  }
}

// 16 rows x RN tokens. Per block: 8 vpdpbusd per token into an int32 sum that starts at
// the offset correction, then the same float steps as the AVX2 GEMM.
template <int RN>
void Tile(const PackedBlock* w, const PackedActBlock* x, int64_t nb, __m512* out) {
  __m512 acc[RN];
  for (int t = 0; t < RN; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedBlock& wb = w[b];
    const PackedActBlock& xb = x[b];
    __m512i isum[RN];
    for (int t = 0; t < RN; ++t) isum[t] = _mm512_set1_epi32(xb.init[t]);
    for (int s = 0; s < 8; ++s) {
      const __m512i wq = _mm512_load_si512(wb.q[s]);
      for (int t = 0; t < RN; ++t) {
        isum[t] = _mm512_dpbusd_epi32(isum[t], wq, _mm512_set1_epi32(LoadDword(xb.q[s] + 4 * t)));
      }
    }
    const __m512 dw = _mm512_load_ps(wb.d);
    for (int t = 0; t < RN; ++t) {
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(xb.d[t]));
      acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(isum[t]), acc[t]);
    }
  }
  for (int t = 0; t < RN; ++t) out[t] = acc[t];
}

// Quantizes tokens [0, count) of x (count <= kTokenTile) into one tile of packed blocks.
void PackActivationTile(const float* x, int64_t cols, int count, int32_t offset, BlockQ8_0* row_buf,
                        PackedActBlock* tile) {
  const int64_t nb = cols / kQK8_0;
  const float* table = Fp16ToFp32Table();
  std::memset(static_cast<void*>(tile), 0, sizeof(PackedActBlock) * nb);
  for (int t = 0; t < count; ++t) {
    avx2::QuantizeActivationRow(x + t * cols, cols, row_buf);
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_0& qb = row_buf[b];
      PackedActBlock& pb = tile[b];
      for (int s = 0; s < 8; ++s) std::memcpy(pb.q[s] + 4 * t, qb.qs + 4 * s, 4);
      int32_t sum = 0;
      for (int j = 0; j < kQK8_0; ++j) sum += qb.qs[j];
      pb.init[t] = -offset * sum;
      pb.d[t] = table[qb.d];
    }
  }
}

template <typename Block>
void GroupRows(const WeightView& w, int64_t r0, int valid, const Block** rows) {
  const size_t row_bytes = RowBytes(w.type, w.cols);
  // Missing rows of the last group repeat its first row; their lanes are not stored.
  for (int i = 0; i < kGroupRows; ++i) {
    rows[i] = reinterpret_cast<const Block*>(w.data + (r0 + (i < valid ? i : 0)) * row_bytes);
  }
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
  const int64_t nb = w.cols / kQK8_0;
  const bool q4 = w.type == GgmlType::kQ4_0;
  const int64_t tiles = (n + kTokenTile - 1) / kTokenTile;

  // Activations packed for the tiles: owned by the calling thread, read by the workers.
  thread_local std::vector<PackedActBlock> act_buf;
  PackedActBlock* act = Buffer(act_buf, tiles * nb);  // [tiles, nb]
  pool.ParallelFor(tiles, 1, [&](int64_t i0, int64_t i1) {
    BlockQ8_0* row = Buffer(ThreadScratch<PackedBlock, BlockQ8_0>().row, nb);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t0 = i * kTokenTile;
      const int count = static_cast<int>(n - t0 < kTokenTile ? n - t0 : kTokenTile);
      PackActivationTile(x + t0 * w.cols, w.cols, count, q4 ? 8 : 128, row, act + i * nb);
    }
  });

  const int64_t groups = (w.rows + kGroupRows - 1) / kGroupRows;
  pool.ParallelFor(groups, 1, [&](int64_t g0, int64_t g1) {
    PackedBlock* packed = Buffer(ThreadScratch<PackedBlock, BlockQ8_0>().blocks, nb);
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t r0 = g * kGroupRows;
      const int valid = static_cast<int>(w.rows - r0 < kGroupRows ? w.rows - r0 : kGroupRows);
      if (q4) {
        const BlockQ4_0* rows[kGroupRows];
        GroupRows(w, r0, valid, rows);
        PackGroup(rows, nb, packed);
      } else {
        const BlockQ8_0* rows[kGroupRows];
        GroupRows(w, r0, valid, rows);
        PackGroup(rows, nb, packed);
      }
      ForTokenTiles<kTokenTile>(n, [&](auto rn, int64_t i) {
        constexpr int kRn = decltype(rn)::value;
        __m512 tile[kRn];
        Tile<kRn>(packed, act + i * nb, nb, tile);
        StoreTile(tile, kRn, i * kTokenTile, r0, valid, w.rows, y);
      });
    }
  });
}

}  // namespace tandem::matmul_internal::avx512

#include "common/kernels/avx512_target_pop.h"
