// AVX2 prompt-processing GEMM (batches beyond RowKernelMaxBatch) for the K-quant weights (Q4_K,
// Q5_K, Q6_K) against Q8_K activations: y[n, rows] = x[n, cols] * W^T.
//
// The layout of matmul_avx2_gemm.cc: each SIMD lane owns one output row. A thread takes 8
// weight rows at a time and unpacks each 256-value super-block of them once (quants to
// bytes in [0, 63], transposed so that one 256-bit load holds 4 consecutive k-values of
// each of the 8 rows, and the sub-block scales and mins spread to the lanes); a 4-byte
// broadcast of one token's activations then feeds maddubs, and every token of the batch
// reuses the unpacked block. maddubs pairs add up in int16 over as many steps as the quant
// range allows (Q4_K 8 steps: |sum| <= 8 * 2 * 15 * 127 < 32768; Q5_K 4, Q6_K 2), then one
// madd with the sub-block scales widens to int32. The mins' share (Q4_K/Q5_K) and Q6_K's
// -32 offset come from the activations' 16-value sums, again by madd, per block and token.
//
// Numerics: the integer parts of a block's dot product are exact in int32, whatever the
// order; the float steps per block are the scalar reference's (DotQ4_K ...):
// acc = fma(x.d * d, float(scaled), acc), then acc = fma(-(x.d * dmin), float(mins), acc)
// (fnmadd, the same single rounding), in block order. So every output equals the
// reference, and the decode kernel (matmul_avx2_kquants.cc), bit for bit: a token's
// result does not depend on n, its place in the batch or the thread count.
#include <immintrin.h>

#include <cstring>
#include <utility>
#include <vector>

#include "common/kernels/fp16_table.h"
#include "common/kernels/gemm_tiles.h"
#include "common/kernels/matmul_avx2_internal.h"
#include "common/kernels/matmul_internal.h"

namespace tandem::matmul_internal::avx2 {
namespace {

constexpr int kGroupRows = 8;  // rows per unpacked group (one per lane)
constexpr int kTokenTile = 4;  // tokens per register tile
constexpr int kSteps = kQK_K / 4;

// 8 rows x one super-block.
struct alignas(32) PackedKBlock {
  uint8_t q[kSteps][32];  // step s: values 4s..4s+3 of row i in bytes 4i..4i+3, in [0, 63]
  int16_t sc[16][16];     // sub-block j's scale of row i in int16 lanes 2i and 2i + 1
                          // (Q4_K/Q5_K: 8 sub-blocks of 32 values; Q6_K: 16 of 16)
  int16_t pairs[8][16];   // lanes 2i, 2i + 1: Q4_K/Q5_K (p < 4) the mins m_2p, m_2p+1;
                          // Q6_K the scales sc_2p, sc_2p+1 (for the -32 offset)
  float d[kGroupRows];
  float dmin[kGroupRows];
};

// kTokenTile tokens x one Q8_K block, read at fixed offsets by the kernel. Missing tokens
// of the last tile are all zero.
struct alignas(32) PackedKAct {
  int8_t q[kSteps][4 * kTokenTile];  // step s: values 4s..4s+3 of token t in bytes 4t..4t+3
  int32_t sums[8][kTokenTile];       // int16 pairs, the partners of `pairs`: Q4_K/Q5_K
                                     // (p < 4) the 32-value sums 2p, 2p+1; Q6_K the
                                     // 16-value sums (bsums) 2p, 2p+1
  float d[kTokenTile];
};

inline int32_t Int16Pair(int lo, int hi) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(lo)) |
                              (static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16));
}

inline void Store(uint8_t* dst, __m256i v) {
  _mm256_store_si256(reinterpret_cast<__m256i*>(dst), v);
}
inline __m256i Load(const void* src) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
}

// The 6-bit scales and mins of a Q4_K/Q5_K block (as KScaleMin, 4 sub-blocks per step).
inline void SetKScales(const uint8_t* packed, UnpackedKBlock* u) {
  uint32_t v[3];
  std::memcpy(v, packed, 12);
  const uint32_t words[4] = {
      v[0] & 0x3f3f3f3f,                                               // scales 0..3
      (v[2] & 0x0f0f0f0f) | (((v[0] >> 6) & 0x03030303) << 4),         // scales 4..7
      v[1] & 0x3f3f3f3f,                                               // mins 0..3
      ((v[2] >> 4) & 0x0f0f0f0f) | (((v[1] >> 6) & 0x03030303) << 4),  // mins 4..7
  };
  const __m128i sm = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(words)));
  const __m128i mm =
      _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(words + 2)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(u->sc), sm);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(u->m), mm);
}

void Unpack(const BlockQ4_K& w, UnpackedKBlock* u) {
  uint8_t* q = u->q;
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int g = 0; g < 4; ++g) {
    const __m256i v = Load(w.qs + 32 * g);
    Store(q + 64 * g, _mm256_and_si256(v, low4));
    Store(q + 64 * g + 32, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
  }
  SetKScales(w.scales, u);
  const float* table = Fp16ToFp32Table();
  u->d = table[w.d];
  u->dmin = table[w.dmin];
}

void Unpack(const BlockQ5_K& w, UnpackedKBlock* u) {
  uint8_t* q = u->q;
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  __m256i qh = Load(w.qh);
  for (int g = 0; g < 4; ++g) {
    // Bits 2g and 2g + 1 of qh[l] are the fifth bits of value l of chunks 2g and 2g + 1;
    // the 16-bit shifts carry other bytes' bits only outside bit 4.
    const __m256i v = Load(w.qs + 32 * g);
    Store(q + 64 * g, _mm256_or_si256(_mm256_and_si256(v, low4),
                                      _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4)));
    Store(q + 64 * g + 32, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4),
                                           _mm256_and_si256(_mm256_slli_epi16(qh, 3), bit4)));
    qh = _mm256_srli_epi16(qh, 2);
  }
  SetKScales(w.scales, u);
  const float* table = Fp16ToFp32Table();
  u->d = table[w.d];
  u->dmin = table[w.dmin];
}

// Q6_K: q in [0, 63] unsigned (the -32 comes back through the activation sums).
void Unpack(const BlockQ6_K& w, UnpackedKBlock* u) {
  uint8_t* q = u->q;
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  for (int h = 0; h < 2; ++h) {
    const __m256i ql0 = Load(w.ql + 64 * h);
    const __m256i ql1 = Load(w.ql + 64 * h + 32);
    const __m256i qh = Load(w.qh + 32 * h);
    uint8_t* out = q + 128 * h;
    Store(out, _mm256_or_si256(_mm256_and_si256(ql0, low4),
                               _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)));
    Store(out + 32, _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                    _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)));
    Store(out + 64, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                    _mm256_and_si256(qh, bits45)));
    Store(out + 96, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                    _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)));
  }
  for (int j = 0; j < 16; ++j) u->sc[j] = w.scales[j];
  u->d = Fp16ToFp32Table()[w.d];
  u->dmin = 0.0f;
}

// Unpacks rows[0..8) (block pointers of one row group) into packed[nb].
template <typename Block>
void PackGroup(const Block* const* rows, int64_t nb, size_t row_bytes, PackedKBlock* packed) {
  constexpr bool kQ6 = sizeof(Block) == sizeof(BlockQ6_K);
  UnpackedKBlock u[kGroupRows];
  for (int64_t b = 0; b < nb; ++b) {
    PackedKBlock& p = packed[b];
    for (int i = 0; i < kGroupRows; ++i) {
      const Block& blk = rows[i][b];
      // The next group's rows stream in while this group is unpacked and multiplied (a
      // thread reads 8 interleaved rows, which the hardware prefetcher follows too late).
      const char* next = reinterpret_cast<const char*>(&blk) + kGroupRows * row_bytes;
      for (size_t off = 0; off < sizeof(Block); off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
      Unpack(blk, &u[i]);
      for (int j = 0; j < (kQ6 ? 16 : 8); ++j) {
        p.sc[j][2 * i] = p.sc[j][2 * i + 1] = u[i].sc[j];
        p.pairs[j / 2][2 * i + j % 2] = kQ6 ? u[i].sc[j] : u[i].m[j];
      }
      p.d[i] = u[i].d;
      p.dmin[i] = u[i].dmin;
    }
    for (int c = 0; c < kQK_K / 32; ++c) {
      __m256i r[kGroupRows], t[8];
      for (int i = 0; i < kGroupRows; ++i) r[i] = Load(u[i].q + 32 * c);
      Transpose8x8(r, t);
      for (int s = 0; s < 8; ++s) Store(p.q[8 * c + s], t[s]);
    }
  }
}

// The int32 part sum_j sc_j * sum(q * x) of one block for 8 rows x RN tokens. kSub: steps
// per sub-block (8 for 32 values, 4 for 16); kGroup: steps whose maddubs pairs add up in
// int16 before the madd with the scales.
template <int kSub, int kGroup, int RN>
inline void ScaledSums(const PackedKBlock& wb, const PackedKAct& xb, __m256i* isum) {
  for (int t = 0; t < RN; ++t) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 1
  for (int s0 = 0; s0 < kSteps; s0 += kGroup) {
    __m256i a16[RN];
    for (int t = 0; t < RN; ++t) a16[t] = _mm256_setzero_si256();
    const uint8_t(*wq)[32] = wb.q + s0;
    const int8_t(*xq)[4 * kTokenTile] = xb.q + s0;
    // A constant trip count, so that the loop unrolls.
#pragma GCC unroll 8
    for (int s = 0; s < kGroup; ++s) {
      const __m256i ws = _mm256_load_si256(reinterpret_cast<const __m256i*>(wq[s]));
      for (int t = 0; t < RN; ++t) {
        const __m256i p = _mm256_maddubs_epi16(ws, _mm256_set1_epi32(LoadDword(xq[s] + 4 * t)));
        a16[t] = _mm256_add_epi16(a16[t], p);
        // Keeps each sum a chain: unrolled, the compiler would otherwise reassociate the
        // int16 adds into a tree of maddubs results that no longer fits in registers.
        if constexpr (kGroup > 2) asm("" : "+x"(a16[t]));
      }
    }
    const __m256i sc = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb.sc[s0 / kSub]));
    for (int t = 0; t < RN; ++t) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(a16[t], sc));
  }
}

// sum_p pairs_p . sums_p (np pairs) for token t: the mins' share or Q6_K's offset / 32.
template <int kPairs>
inline __m256i PairSums(const PackedKBlock& wb, const PackedKAct& xb, int t) {
  __m256i acc = _mm256_setzero_si256();
  for (int p = 0; p < kPairs; ++p) {
    const __m256i pw = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb.pairs[p]));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pw, _mm256_set1_epi32(xb.sums[p][t])));
  }
  return acc;
}

// 8 rows x RN tokens over all nb blocks.
template <GgmlType kType, int RN>
void Tile(const PackedKBlock* w, const PackedKAct* x, int64_t nb, __m256* out) {
  constexpr bool kQ6 = kType == GgmlType::kQ6_K;
  constexpr int kGroup = kType == GgmlType::kQ4_K ? 8 : kType == GgmlType::kQ5_K ? 4 : 2;
  __m256 acc[RN];
  for (int t = 0; t < RN; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedKBlock& wb = w[b];
    const PackedKAct& xb = x[b];
    __m256i isum[RN];
    ScaledSums<kQ6 ? 4 : 8, kGroup, RN>(wb, xb, isum);
    const __m256 dw = _mm256_load_ps(wb.d);
    for (int t = 0; t < RN; ++t) {
      const __m256 xd = _mm256_broadcast_ss(xb.d + t);
      if constexpr (kQ6) {
        const __m256i offset = _mm256_slli_epi32(PairSums<8>(wb, xb, t), 5);
        const __m256 scaled = _mm256_cvtepi32_ps(_mm256_sub_epi32(isum[t], offset));
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(xd, dw), scaled, acc[t]);
      } else {
        const __m256 mins = _mm256_cvtepi32_ps(PairSums<4>(wb, xb, t));
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(xd, dw), _mm256_cvtepi32_ps(isum[t]), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(xd, _mm256_load_ps(wb.dmin)), mins, acc[t]);
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
      for (int p = 0; p < 8; ++p) {
        if (q6) {
          pb.sums[p][t] = Int16Pair(qb.bsums[2 * p], qb.bsums[2 * p + 1]);
        } else if (p < 4) {
          pb.sums[p][t] = Int16Pair(qb.bsums[4 * p] + qb.bsums[4 * p + 1],
                                    qb.bsums[4 * p + 2] + qb.bsums[4 * p + 3]);
        }
      }
      pb.d[t] = qb.d;
    }
  }
}

template <typename Block, GgmlType kType>
void GroupProduct(const WeightView& w, int64_t r0, int valid, const PackedKAct* act, int64_t n,
                  PackedKBlock* packed, float* y) {
  const int64_t nb = w.cols / kQK_K;
  const size_t row_bytes = RowBytes(w.type, w.cols);
  // Missing rows of the last group repeat its first row; their lanes are not stored.
  const Block* rows[kGroupRows];
  for (int i = 0; i < kGroupRows; ++i) {
    rows[i] = reinterpret_cast<const Block*>(w.data + (r0 + (i < valid ? i : 0)) * row_bytes);
  }
  PackGroup(rows, nb, row_bytes, packed);
  ForTokenTiles<kTokenTile>(n, [&](auto rn, int64_t i) {
    constexpr int kRn = decltype(rn)::value;
    __m256 tile[kRn];
    Tile<kType, kRn>(packed, act + i * nb, nb, tile);
    StoreTile(tile, kRn, i * kTokenTile, r0, valid, w.rows, y);
  });
}

}  // namespace

void UnpackKQuantBlock(GgmlType type, const uint8_t* block, UnpackedKBlock* out) {
  switch (type) {
    case GgmlType::kQ4_K:
      Unpack(*reinterpret_cast<const BlockQ4_K*>(block), out);
      break;
    case GgmlType::kQ5_K:
      Unpack(*reinterpret_cast<const BlockQ5_K*>(block), out);
      break;
    default:
      Unpack(*reinterpret_cast<const BlockQ6_K*>(block), out);
      break;
  }
}

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

  const int64_t groups = (w.rows + kGroupRows - 1) / kGroupRows;
  pool.ParallelFor(groups, 1, [&](int64_t g0, int64_t g1) {
    PackedKBlock* packed = Buffer(ThreadScratch<PackedKBlock, BlockQ8_K>().blocks, nb);
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t r0 = g * kGroupRows;
      const int valid = static_cast<int>(w.rows - r0 < kGroupRows ? w.rows - r0 : kGroupRows);
      switch (w.type) {
        case GgmlType::kQ4_K:
          GroupProduct<BlockQ4_K, GgmlType::kQ4_K>(w, r0, valid, act, n, packed, y);
          break;
        case GgmlType::kQ5_K:
          GroupProduct<BlockQ5_K, GgmlType::kQ5_K>(w, r0, valid, act, n, packed, y);
          break;
        default:
          GroupProduct<BlockQ6_K, GgmlType::kQ6_K>(w, r0, valid, act, n, packed, y);
          break;
      }
    }
  });
}

}  // namespace tandem::matmul_internal::avx2
