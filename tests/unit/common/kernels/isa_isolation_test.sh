#!/usr/bin/env bash
# Checks that AVX-512 code appears only in functions of the avx512 kernel namespace.
# Inline header code (std::vector, ...) compiled at a wider ISA could be picked by the
# linker for every caller and crash AVX2-only CPUs; this catches that at build time.
# Usage: isa_isolation_test.sh <libtandem_kernels.a>
set -euo pipefail
lib=$1
objdump -d -C --no-show-raw-insn "$lib" | awk '
  /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
  /%zmm|%[xy]mm(1[6-9]|2[0-9]|3[01])\b|%k[0-7]\b|\{1to[0-9]+\}/ {
    if (fn !~ /::avx512::/) { bad[fn] = $0 }
  }
  END {
    n = 0
    for (f in bad) { print "AVX-512 outside the avx512 kernels: " f "\n    " bad[f]; n++ }
    if (n > 0) exit 1
    print "ok: AVX-512 instructions only in ::avx512:: functions"
  }'
