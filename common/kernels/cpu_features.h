// Runtime CPU feature checks for picking kernels (the binary's baseline is plain x86-64).
#pragma once

namespace tandem {

// True if this x86 CPU has AVX2, FMA and F16C (the set the *_avx2.cc files use).
bool CpuHasAvx2Fma();

// Name of the kernel set MatMul and the ops use on this CPU: "avx2", "neon" or "scalar".
const char* KernelSetName();

}  // namespace tandem
