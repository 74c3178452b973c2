// Ends the AVX-512 region that avx512_target_push.h began.
#pragma GCC diagnostic pop
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
