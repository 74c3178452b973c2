// AVX-512 VNNI prompt-processing GEMM (batches beyond RowKernelMaxBatch) for the K-quant weights
// (Q4_K, Q5_K, Q6_K) against Q8_K activations. Called only when KernelCpuIsa() is kAvx512Vnni.
//
// The scheme of matmul_avx2_kquants_gemm.cc at twice the width: each zmm lane owns one of
// 16 weight rows, unpacked once per super-block (UnpackKQuantBlock, the AVX2 code) and
// transposed so that one 512-bit load holds 4 consecutive k-values of each row; a 4-byte
// broadcast of one token's activations feeds vpdpbusd, which sums a sub-block's products
// straight into int32 lanes. One vpmulld per sub-block and token applies the scales. Q6_K's
// -32 offset is the start value of each sub-block's sum (-32 times its activation sum);
// the Q4_K/Q5_K mins' share is vpdpwssd of the mins against the activation pair sums.
//
// The integer parts are exact and the float steps per block are the reference's (see the
// AVX2 file), so every output is bit-identical to the scalar reference, to the AVX2
// kernels and to the token decoded alone.
//
// Compiled for AVX-512 through avx512_target_push.h after the includes (why there: see it).
#include <immintrin.h>

#include <cstring>
#include <utility>
#include <vector>

#include "common/kernels/gemm_tiles.h"
#include "common/kernels/matmul_avx2_internal.h"
#include "common/kernels/matmul_internal.h"

// clang-format off: after every other include
#include "common/kernels/avx512_target_push.h"       // kernels below
#include "common/kernels/matmul_avx512_transpose.h"  // inside the AVX-512 region
// clang-format on

namespace tandem::matmul_internal::avx512 {
namespace {

constexpr int kGroupRows = 16;  // rows per unpacked group, one per zmm lane
constexpr int kTokenTile = 8;   // tokens per register tile
constexpr int kSteps = kQK_K / 4;

// 16 rows x one super-block.
struct alignas(64) PackedKBlock {
  uint8_t q[kSteps][64];  // step s: values 4s..4s+3 of row i in bytes 4i..4i+3, in [0, 63]
  int32_t sc[16][16];     // sub-block j's scale of row i in lane i (Q4_K/Q5_K: 8 sub-blocks
                          // of 32 values; Q6_K: 16 of 16)
  int32_t mins[4][16];    // Q4_K/Q5_K: the int16 pair (m_2p, m_2p+1) of row i in lane i
  float d[kGroupRows];
  float dmin[kGroupRows];
};

// kTokenTile tokens x one Q8_K block. Missing tokens of the last tile are all zero.
struct alignas(64) PackedKAct {
  int8_t q[kSteps][4 * kTokenTile];  // step s: values 4s..4s+3 of token t in bytes 4t..4t+3
  int32_t init[16][kTokenTile];      // Q6_K: -32 times sub-block j's activation sum
  int32_t sums[4][kTokenTile];       // Q4_K/Q5_K: the int16 pair of 32-value sums 2p, 2p+1
  float d[kTokenTile];
};

inline int32_t LoadDword(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline int32_t Int16Pair(int lo, int hi) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(lo)) |
                              (static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16));
}

// Unpacks rows[0..16) (pointers to the first block of each row of one group) into
// packed[nb].
void PackGroup(GgmlType type, const uint8_t* const* rows, int64_t nb, size_t row_bytes,
               PackedKBlock* packed) {
  const bool q6 = type == GgmlType::kQ6_K;
  const size_t block_bytes = TraitsOf(type).block_bytes;
  avx2::UnpackedKBlock u[kGroupRows];
  for (int64_t b = 0; b < nb; ++b) {
    PackedKBlock& p = packed[b];
    for (int i = 0; i < kGroupRows; ++i) {
      const uint8_t* blk = rows[i] + b * block_bytes;
      // The next group's rows stream in while this group is unpacked and multiplied.
      const char* next = reinterpret_cast<const char*>(blk) + kGroupRows * row_bytes;
      for (size_t off = 0; off < block_bytes; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
      avx2::UnpackKQuantBlock(type, blk, &u[i]);
      for (int j = 0; j < (q6 ? 16 : 8); ++j) p.sc[j][i] = u[i].sc[j];
      if (!q6) {
        for (int k = 0; k < 4; ++k) p.mins[k][i] = Int16Pair(u[i].m[2 * k], u[i].m[2 * k + 1]);
      }
      p.d[i] = u[i].d;
      p.dmin[i] = u[i].dmin;
    }
    for (int c = 0; c < kQK_K / 32; ++c) {
      __m512i z[8], t[8];
      for (int i = 0; i < 8; ++i) {
        const __m256i lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(u[i].q + 32 * c));
        const __m256i hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(u[i + 8].q + 32 * c));
        z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      }
      Transpose16x8(z, t);
      for (int s = 0; s < 8; ++s) _mm512_store_si512(p.q[8 * c + s], t[s]);
    }
  }
}

// 16 rows x RN tokens over all nb blocks. kSub: steps per sub-block (8 or 4 for Q6_K).
template <bool kQ6, int RN>
void Tile(const PackedKBlock* w, const PackedKAct* x, int64_t nb, __m512* out) {
  constexpr int kSub = kQ6 ? 4 : 8;
  __m512 acc[RN];
  for (int t = 0; t < RN; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedKBlock& wb = w[b];
    const PackedKAct& xb = x[b];
    __m512i isum[RN];
    for (int t = 0; t < RN; ++t) isum[t] = _mm512_setzero_si512();
#pragma GCC unroll 1
    for (int j = 0; j < kSteps / kSub; ++j) {
      __m512i part[RN];
      for (int t = 0; t < RN; ++t) {
        part[t] = kQ6 ? _mm512_set1_epi32(xb.init[j][t]) : _mm512_setzero_si512();
      }
      const uint8_t(*wq)[64] = wb.q + j * kSub;
      const int8_t(*xq)[4 * kTokenTile] = xb.q + j * kSub;
      // A constant trip count, so that the loop unrolls.
#pragma GCC unroll 8
      for (int s = 0; s < kSub; ++s) {
        const __m512i ws = _mm512_load_si512(wq[s]);
        for (int t = 0; t < RN; ++t) {
          part[t] = _mm512_dpbusd_epi32(part[t], ws, _mm512_set1_epi32(LoadDword(xq[s] + 4 * t)));
        }
      }
      const __m512i sc = _mm512_load_si512(wb.sc[j]);
      for (int t = 0; t < RN; ++t) {
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(part[t], sc));
      }
    }
    const __m512 dw = _mm512_load_ps(wb.d);
    for (int t = 0; t < RN; ++t) {
      const __m512 xd = _mm512_set1_ps(xb.d[t]);
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(xd, dw), _mm512_cvtepi32_ps(isum[t]), acc[t]);
      if constexpr (!kQ6) {
        __m512i mins = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
          mins = _mm512_dpwssd_epi32(mins, _mm512_load_si512(wb.mins[k]),
                                     _mm512_set1_epi32(xb.sums[k][t]));
        }
        acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(xd, _mm512_load_ps(wb.dmin)),
                                  _mm512_cvtepi32_ps(mins), acc[t]);
      }
    }
  }
  for (int t = 0; t < RN; ++t) out[t] = acc[t];
}

// Quantizes tokens [0, count) of x (count <= kTokenTile) into one tile of packed blocks.
void PackActivationTile(const float* x, int64_t cols, int count, bool q6, BlockQ8_K* row_buf,
                        PackedKAct* tile) {
  const int64_t nb = cols / kQK_K;
  std::memset(static_cast<void*>(tile), 0, sizeof(PackedKAct) * nb);
  for (int t = 0; t < count; ++t) {
    avx2::QuantizeActivationRowQ8K(x + t * cols, cols, row_buf);
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_K& qb = row_buf[b];
      PackedKAct& pb = tile[b];
      for (int s = 0; s < kSteps; ++s) std::memcpy(pb.q[s] + 4 * t, qb.qs + 4 * s, 4);
      if (q6) {
        for (int j = 0; j < 16; ++j) pb.init[j][t] = -32 * qb.bsums[j];
      } else {
        for (int k = 0; k < 4; ++k) {
          pb.sums[k][t] = Int16Pair(qb.bsums[4 * k] + qb.bsums[4 * k + 1],
                                    qb.bsums[4 * k + 2] + qb.bsums[4 * k + 3]);
        }
      }
      pb.d[t] = qb.d;
    }
  }
}

}  // namespace

void KQuantGemm(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  const int64_t nb = w.cols / kQK_K;
  const bool q6 = w.type == GgmlType::kQ6_K;
  const int64_t tiles = (n + kTokenTile - 1) / kTokenTile;

  // Activations packed for the tiles: owned by the calling thread, read by the workers.
  thread_local std::vector<PackedKAct> act_buf;
  PackedKAct* act = Buffer(act_buf, tiles * nb);  // [tiles, nb]
  pool.ParallelFor(tiles, 1, [&](int64_t i0, int64_t i1) {
    BlockQ8_K* row = Buffer(ThreadScratch<PackedKBlock, BlockQ8_K>().row, nb);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t0 = i * kTokenTile;
      const int count = static_cast<int>(n - t0 < kTokenTile ? n - t0 : kTokenTile);
      PackActivationTile(x + t0 * w.cols, w.cols, count, q6, row, act + i * nb);
    }
  });

  const size_t row_bytes = RowBytes(w.type, w.cols);
  const int64_t groups = (w.rows + kGroupRows - 1) / kGroupRows;
  pool.ParallelFor(groups, 1, [&](int64_t g0, int64_t g1) {
    PackedKBlock* packed = Buffer(ThreadScratch<PackedKBlock, BlockQ8_K>().blocks, nb);
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t r0 = g * kGroupRows;
      const int valid = static_cast<int>(w.rows - r0 < kGroupRows ? w.rows - r0 : kGroupRows);
      // Missing rows of the last group repeat its first row; their lanes are not stored.
      const uint8_t* rows[kGroupRows];
      for (int i = 0; i < kGroupRows; ++i)
        rows[i] = w.data + (r0 + (i < valid ? i : 0)) * row_bytes;
      PackGroup(w.type, rows, nb, row_bytes, packed);
      ForTokenTiles<kTokenTile>(n, [&](auto rn, int64_t i) {
        constexpr int kRn = decltype(rn)::value;
        __m512 tile[kRn];
        if (q6) {
          Tile<true, kRn>(packed, act + i * nb, nb, tile);
        } else {
          Tile<false, kRn>(packed, act + i * nb, nb, tile);
        }
        StoreTile(tile, kRn, i * kTokenTile, r0, valid, w.rows, y);
      });
    }
  });
}

}  // namespace tandem::matmul_internal::avx512

#include "common/kernels/avx512_target_pop.h"
