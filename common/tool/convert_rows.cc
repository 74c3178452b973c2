#include "common/tool/convert_rows.h"

#include <vector>

#include "common/tensor/quantize.h"

namespace tandem {

void ConvertRows(GgmlType from, const uint8_t* src, GgmlType to, uint8_t* dst, int64_t rows,
                 int64_t row_length, ThreadPool& pool) {
  const size_t src_row = RowBytes(from, row_length), dst_row = RowBytes(to, row_length);
  pool.ParallelFor(rows, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> values(row_length);
    for (int64_t r = begin; r < end; ++r) {
      DequantizeRow(from, src + r * src_row, values.data(), row_length);
      QuantizeRow(to, values.data(), dst + r * dst_row, row_length);
    }
  });
}

}  // namespace tandem
