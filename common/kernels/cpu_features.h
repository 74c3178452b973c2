// Runtime CPU feature checks for picking kernels (the binary's baseline is plain x86-64).
#pragma once

namespace tandem {

// True if this x86 CPU has AVX2, FMA and F16C (the set the *_avx2.cc files use).
bool CpuHasAvx2Fma();

// x86 kernel levels above the AVX2 baseline, in increasing order. Each level's kernels
// are compiled only into their own translation unit and called only after the check.
enum class CpuIsa {
  kAvx2 = 0,        // AVX2 + FMA + F16C (or less: then the scalar / NEON kernels run)
  kAvxVnni = 1,     // + AVX-VNNI: vpdpbusd on ymm
  kAvx512Vnni = 2,  // + AVX-512 F/BW/VL/VNNI with the OS saving zmm state
};

// The highest level this CPU and OS support (cpuid + XGETBV); kAvx2 when none above it.
CpuIsa DetectedCpuIsa();

// The level the kernels use: DetectedCpuIsa() capped by the TANDEM_CPU environment
// variable ("avx2", "avxvnni", "avx512vnni"; read once) or by SetCpuIsaCap. The cap lets
// tests and benchmarks run every kernel set on one machine.
CpuIsa KernelCpuIsa();

// Caps KernelCpuIsa() at `cap` from now on (process-wide; for tests and benchmarks; a
// cap at the top level, kAvx512Vnni, caps nothing). Returns the previous cap.
CpuIsa SetCpuIsaCap(CpuIsa cap);

// Parses a TANDEM_CPU value; false if unknown.
bool ParseCpuIsa(const char* name, CpuIsa* isa);

// Name of the kernel set MatMul uses on this CPU: "avx512vnni", "avxvnni", "avx2", "neon"
// or "scalar".
const char* KernelSetName();

}  // namespace tandem
