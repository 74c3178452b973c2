#include "common/kernels/fp16_table.h"

#include <cstdint>
#include <memory>

#include "common/util/fp16.h"

namespace tandem {

const float* Fp16ToFp32Table() {
  static const float* table = [] {
    auto* t = new float[65536];  // lives for the whole process
    for (uint32_t h = 0; h < 65536; ++h) t[h] = Fp16ToFp32(static_cast<uint16_t>(h));
    return t;
  }();
  return table;
}

}  // namespace tandem
