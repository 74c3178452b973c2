// Re-encodes a tensor's rows into another ggml type (dequantize, then quantize), in
// parallel; shared by `tandem quantize` and `tandem split --edge-type`.
#pragma once

#include <cstdint>

#include "common/tensor/ggml_type.h"
#include "common/util/thread_pool.h"

namespace tandem {

// `rows` rows of `row_length` values: `src` in `from`, written to `dst` in `to`.
void ConvertRows(GgmlType from, const uint8_t* src, GgmlType to, uint8_t* dst, int64_t rows,
                 int64_t row_length, ThreadPool& pool);

}  // namespace tandem
