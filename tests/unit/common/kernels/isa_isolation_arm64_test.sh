#!/usr/bin/env bash
# aarch64: the kernels library must run on ARMv8.0-A (Raspberry Pi 4). Checks that
#  - ARMv8.2 dot product instructions (sdot/udot) appear only in matmul_neon_dotprod.cc.o,
#    the one file built with -march=armv8.2-a+dotprod (and that they are there at all);
#  - that object defines no weak (COMDAT) symbol: an inline function compiled there for
#    ARMv8.2 could otherwise be picked by the linker for every caller in the program.
# Running the whole suite as a Cortex-A72 under qemu (tests/run-arm64.sh) checks the rest.
# Usage: isa_isolation_arm64_test.sh <objdump> <nm> <libtandem_kernels.a>
set -euo pipefail
objdump=$1 nm=$2 lib=$3
dotprod_obj=matmul_neon_dotprod.cc.o

"$objdump" -d -C --no-show-raw-insn "$lib" | awk -v want="$dotprod_obj" '
  /file format/ { obj = $1; sub(/:$/, "", obj); next }
  /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
  /\t(sdot|udot|usdot|sudot)\t/ {
    if (obj == want) { n++ } else { bad[obj ": " fn] = $0 }
  }
  END {
    failed = 0
    for (f in bad) { print "dot product instruction outside " want ": " f "\n    " bad[f]; failed = 1 }
    if (n == 0) { print "no sdot in " want ": the dotprod kernels are missing"; failed = 1 }
    if (failed) exit 1
    print "ok: " n " dot product instructions, all in " want
  }'

weak=$("$nm" -C --defined-only "$lib" | awk -v want="$dotprod_obj:" '
  /:$/ { inside = ($0 == want); next }
  inside && NF >= 3 && $2 ~ /^[WVu]$/ { print }')
if [ -n "$weak" ]; then
  echo "weak symbols in $dotprod_obj (may replace the ARMv8.0 copies at link time):"
  echo "$weak"
  exit 1
fi
echo "ok: $dotprod_obj defines no weak symbols"
