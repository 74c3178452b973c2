// `tandem quantize`: rewrites a model with its weight matrices in another storage type.
// Metadata is copied unchanged (but general.file_type); norm vectors stay F32, as do
// matrices whose rows are not a whole number of blocks of the target type.
#include "absl/strings/str_format.h"
#include "common/gguf/gguf_writer.h"
#include "common/model/llama_model.h"
#include "common/tool/commands.h"
#include "common/tool/convert_rows.h"
#include "common/tool/progress.h"
#include "common/util/status_macros.h"
#include "common/util/thread_pool.h"

namespace tandem {

absl::Status RunQuantize(const QuantizeConfig& config, std::ostream& out, std::ostream& err) {
  std::optional<GgmlType> target = ParseSupportedType(config.type);
  if (!target) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown type '", config.type, "' (use q8_0, q4_0, f16 or f32)"));
  }
  if (config.input_path == config.output_path) {
    return absl::InvalidArgumentError("input and output must be different files");
  }
  // Loading validates the input as a llama model before anything is written.
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LlamaModel::Load(config.input_path));
  const GgufFile& in = model->gguf();

  GgufWriter writer;
  for (const auto& [key, value] : in.metadata()) {
    if (key != "general.file_type") writer.SetValue(key, value);
  }
  writer.SetUint32("general.file_type", LlamaFileType(*target));

  ThreadPool pool(config.threads);
  uint64_t in_bytes = 0, out_bytes = 0;
  for (const GgufTensorInfo& t : in.tensors()) {
    GgmlType type = t.type;
    const int64_t row = t.row_length();
    if (t.shape.size() >= 2 && row % TraitsOf(*target).block_size == 0) type = *target;
    in_bytes += t.data.size();
    out_bytes += RowBytes(type, row) * t.rows();
    writer.AddTensor(t.name, t.shape, type, [&t, type, row, &pool](std::vector<uint8_t>& dst) {
      ConvertRows(t.type, t.data.data(), type, dst.data(), t.rows(), row, pool);
      return absl::OkStatus();
    });
  }
  RETURN_IF_ERROR(
      writer.Write(config.output_path, TerminalProgress(config.show_progress, err, "quantize")));
  out << absl::StrFormat("%s: %.2f MiB -> %s (%s): %.2f MiB\n", config.input_path,
                         in_bytes / double(1 << 20), config.output_path, TraitsOf(*target).name,
                         out_bytes / double(1 << 20));
  return absl::OkStatus();
}

}  // namespace tandem
