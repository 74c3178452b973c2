// Runtime CPU feature checks for picking kernels (the binary's baseline is plain x86-64,
// or ARMv8.0-A on aarch64).
#pragma once

namespace tandem {

// True if this x86 CPU has AVX2, FMA and F16C (the set the *_avx2.cc files use).
bool CpuHasAvx2Fma();

// Kernel levels above the baseline, in increasing order. Each level's kernels are
// compiled only into their own translation unit and called only after the check.
// x86-64 and aarch64 levels share the numbers (a build has only one set).
enum class CpuIsa {
  kAvx2 = 0,        // AVX2 + FMA + F16C (or less: then the scalar kernels run)
  kAvxVnni = 1,     // + AVX-VNNI: vpdpbusd on ymm
  kAvx512Vnni = 2,  // + AVX-512 F/BW/VL/VNNI with the OS saving zmm state
  // aarch64:
  kNeon = 0,         // ARMv8.0-A Advanced SIMD, in every aarch64 CPU (Raspberry Pi 4)
  kNeonDotProd = 1,  // + the ARMv8.2 dot product, sdot (HWCAP_ASIMDDP: Pi 5, i.MX 93)
};

// The highest level this CPU and OS support (x86: cpuid + XGETBV; aarch64: the kernel's
// HWCAP bits); kAvx2 / kNeon when none above it.
CpuIsa DetectedCpuIsa();

// The level the kernels use: DetectedCpuIsa() capped by the TANDEM_CPU environment
// variable ("avx2", "avxvnni", "avx512vnni"; on aarch64 "neon", "dotprod"; read once) or
// by SetCpuIsaCap. The cap lets
// tests and benchmarks run every kernel set on one machine.
CpuIsa KernelCpuIsa();

// Caps KernelCpuIsa() at `cap` from now on (process-wide; for tests and benchmarks; a
// cap at the top level, kAvx512Vnni, caps nothing). Returns the previous cap.
CpuIsa SetCpuIsaCap(CpuIsa cap);

// Parses a TANDEM_CPU value of this build's architecture; false if unknown.
bool ParseCpuIsa(const char* name, CpuIsa* isa);

// Name of the kernel set MatMul uses on this CPU: "avx512vnni", "avxvnni", "avx2",
// "neon-dotprod", "neon" or "scalar".
const char* KernelSetName();

}  // namespace tandem
