// Included (with no guard, on purpose) after a kernel file's other includes: compiles the
// functions that follow for AVX-512 VNNI. Only function bodies after this point get the
// target, so inline functions from headers (std::vector, ...), which the linker may merge
// with other files' copies, stay at the baseline ISA and AVX2-only CPUs never run zmm code.
// End the region with avx512_target_pop.h.
#if defined(__clang__)
// clang ignores GCC's target pragma (the libFuzzer build uses clang).
#pragma clang attribute push(                                                      \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
#endif
// GCC 12 warns on the self-initialized _mm512_undefined_* inside its own intrinsics once
// they are inlined (GCC bug 105593); the warning says nothing about this code.
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
