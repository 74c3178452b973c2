#include "common/kernels/cpu_features.h"

namespace tandem {

bool CpuHasAvx2Fma() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
#else
  return false;
#endif
}

const char* KernelSetName() {
#if defined(__ARM_NEON)
  return "neon";
#else
  return CpuHasAvx2Fma() ? "avx2" : "scalar";
#endif
}

}  // namespace tandem
