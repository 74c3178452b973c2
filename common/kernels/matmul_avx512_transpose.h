// The 16-row transpose and the tile store of the AVX-512 GEMMs (matmul_avx512_gemm.cc for
// Q4_0/Q8_0, matmul_avx512_kquants_gemm.cc for the K-quants). Include only after
// avx512_target_push.h (its inline code is AVX-512).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace tandem::matmul_internal::avx512 {

// Rows 0..15 of 8 dwords each, as z[i] = row i (low half) and row i + 8 (high half), to
// out[s] = dword s of rows 0..15 in order: 4x4 transposes inside the 128-bit lanes, then
// one two-source qword permute per output puts the lanes in row order.
inline void Transpose16x8(const __m512i z[8], __m512i out[8]) {
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  const __m512i t4 = _mm512_unpacklo_epi32(z[4], z[5]), t5 = _mm512_unpackhi_epi32(z[4], z[5]);
  const __m512i t6 = _mm512_unpacklo_epi32(z[6], z[7]), t7 = _mm512_unpackhi_epi32(z[6], z[7]);
  // u[k] lanes: dword k (and k + 4) of rows 0-3 / 4-7, then of rows 8-11 / 12-15.
  const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
  const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
  const __m512i u4 = _mm512_unpacklo_epi64(t4, t6), u5 = _mm512_unpackhi_epi64(t4, t6);
  const __m512i u6 = _mm512_unpacklo_epi64(t5, t7), u7 = _mm512_unpackhi_epi64(t5, t7);
  const __m512i even = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i odd = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  out[0] = _mm512_permutex2var_epi64(u0, even, u4);
  out[1] = _mm512_permutex2var_epi64(u1, even, u5);
  out[2] = _mm512_permutex2var_epi64(u2, even, u6);
  out[3] = _mm512_permutex2var_epi64(u3, even, u7);
  out[4] = _mm512_permutex2var_epi64(u0, odd, u4);
  out[5] = _mm512_permutex2var_epi64(u1, odd, u5);
  out[6] = _mm512_permutex2var_epi64(u2, odd, u6);
  out[7] = _mm512_permutex2var_epi64(u3, odd, u7);
}

// Stores the GEMM tile results of tokens [t0, t0 + count) for the 16-row group at r0, of
// which `valid` rows exist: y[t, r] for a [tokens, rows] output.
inline void StoreTile(const __m512* tile, int count, int64_t t0, int64_t r0, int valid,
                      int64_t rows, float* y) {
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
  for (int t = 0; t < count; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + r0, mask, tile[t]);
}

}  // namespace tandem::matmul_internal::avx512
