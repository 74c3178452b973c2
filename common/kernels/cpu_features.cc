#include "common/kernels/cpu_features.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace tandem {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// XCR0: which register state the OS saves on context switches. A CPU feature is usable
// only if its registers are saved (a VM or kernel may turn AVX-512 state off).
unsigned long long Xcr0() {
  unsigned int lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

CpuIsa Detect() {
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return CpuIsa::kAvx2;
  const bool osxsave = ecx & (1u << 27);
  if (!osxsave) return CpuIsa::kAvx2;
  const unsigned long long xcr0 = Xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!ymm_state || !CpuHasAvx2Fma()) return CpuIsa::kAvx2;
  unsigned int max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 7) return CpuIsa::kAvx2;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const bool avx512 = (ebx & (1u << 16)) && (ebx & (1u << 30)) && (ebx & (1u << 31));  // F BW VL
  const bool avx512_vnni = ecx & (1u << 11);
  if (zmm_state && avx512 && avx512_vnni) return CpuIsa::kAvx512Vnni;
  __cpuid_count(7, 1, eax, ebx, ecx, edx);
  const bool avx_vnni = eax & (1u << 4);
  return avx_vnni ? CpuIsa::kAvxVnni : CpuIsa::kAvx2;
}
#endif

#if defined(__aarch64__)
// The kernel reports the CPU's features (it reads the ID registers, which user space may
// not); the compiler's own baseline says nothing about the CPU the binary runs on.
CpuIsa Detect() {
  const unsigned long hwcap = getauxval(AT_HWCAP);
  return (hwcap & HWCAP_ASIMDDP) != 0 ? CpuIsa::kNeonDotProd : CpuIsa::kNeon;
}
#endif

constexpr CpuIsa kTopIsa = CpuIsa::kAvx512Vnni;  // a cap at the top level caps nothing

CpuIsa InitialCap() {
  const char* env = std::getenv("TANDEM_CPU");
  if (env == nullptr || *env == '\0') return kTopIsa;
  CpuIsa isa;
  if (!ParseCpuIsa(env, &isa)) {
    // Once, at the first kernel call; a typo must not silently benchmark the wrong kernels.
#if defined(__aarch64__)
    std::fprintf(stderr, "warning: ignoring unknown TANDEM_CPU=%s (neon, dotprod)\n", env);
#else
    std::fprintf(stderr, "warning: ignoring unknown TANDEM_CPU=%s (avx2, avxvnni, avx512vnni)\n",
                 env);
#endif
    return kTopIsa;
  }
  return isa;
}

std::atomic<CpuIsa>& Cap() {
  static std::atomic<CpuIsa> cap{InitialCap()};
  return cap;
}

}  // namespace

bool CpuHasAvx2Fma() {
#if defined(__x86_64__) || defined(__i386__)
  // F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports has no "f16c".
  static const bool has = [] {
    unsigned int eax, ebx, ecx, edx;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
    return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
#else
  return false;
#endif
}

CpuIsa DetectedCpuIsa() {
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
  static const CpuIsa isa = Detect();
  return isa;
#else
  return CpuIsa::kAvx2;
#endif
}

CpuIsa KernelCpuIsa() {
  const CpuIsa detected = DetectedCpuIsa();
  const CpuIsa cap = Cap().load(std::memory_order_relaxed);
  return static_cast<int>(detected) < static_cast<int>(cap) ? detected : cap;
}

CpuIsa SetCpuIsaCap(CpuIsa cap) { return Cap().exchange(cap, std::memory_order_relaxed); }

bool ParseCpuIsa(const char* name, CpuIsa* isa) {
#if defined(__aarch64__)
  if (std::strcmp(name, "neon") == 0) {
    *isa = CpuIsa::kNeon;
  } else if (std::strcmp(name, "dotprod") == 0) {
    *isa = CpuIsa::kNeonDotProd;
  } else {
    return false;
  }
  return true;
#else
  if (std::strcmp(name, "avx2") == 0) {
    *isa = CpuIsa::kAvx2;
  } else if (std::strcmp(name, "avxvnni") == 0) {
    *isa = CpuIsa::kAvxVnni;
  } else if (std::strcmp(name, "avx512vnni") == 0) {
    *isa = CpuIsa::kAvx512Vnni;
  } else {
    return false;
  }
  return true;
#endif
}

const char* KernelSetName() {
#if defined(__aarch64__)
  return KernelCpuIsa() == CpuIsa::kNeonDotProd ? "neon-dotprod" : "neon";
#else
  if (!CpuHasAvx2Fma()) return "scalar";
  switch (KernelCpuIsa()) {
    case CpuIsa::kAvx512Vnni:
      return "avx512vnni";
    case CpuIsa::kAvxVnni:
      return "avxvnni";
    default:
      return "avx2";
  }
#endif
}

}  // namespace tandem
