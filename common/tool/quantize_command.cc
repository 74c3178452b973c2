// `tandem quantize`: rewrites a model with its weight matrices in another storage type,
// mixed per tensor as llama-quantize does for the same preset (common/tool/quant_mixture).
// Metadata is copied unchanged (but general.file_type); norm vectors stay F32.
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/gguf/gguf_writer.h"
#include "common/model/llama_model.h"
#include "common/tool/commands.h"
#include "common/tool/convert_rows.h"
#include "common/tool/progress.h"
#include "common/tool/quant_mixture.h"
#include "common/util/status_macros.h"
#include "common/util/thread_pool.h"

namespace tandem {

absl::Status RunQuantize(const QuantizeConfig& config, std::ostream& out, std::ostream& err) {
  ASSIGN_OR_RETURN(const QuantPreset preset, ParseQuantPreset(config.type));
  if (config.input_path == config.output_path) {
    return absl::InvalidArgumentError("input and output must be different files");
  }
  // Loading validates the input as a llama model before anything is written.
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LlamaModel::Load(config.input_path));
  const GgufFile& in = model->gguf();

  // Sources: float weights, or Q8_0 (close to lossless) with a warning; re-quantizing
  // from 4-6 bits compounds the rounding, so it is refused as llama-quantize does.
  std::vector<MixtureTensor> tensors;
  std::map<std::string, int> source_types;
  for (const GgufTensorInfo& t : in.tensors()) {
    tensors.push_back({t.name, t.shape, t.type});
    if (t.shape.size() >= 2) ++source_types[std::string(TraitsOf(t.type).name)];
  }
  for (const auto& [name, count] : source_types) {
    if (name == "f32" || name == "f16" || name == "bf16") continue;
    if (name == "q8_0") {
      err << "tandem quantize: warning: " << count
          << " matrices are already q8_0; re-quantizing them adds q8_0's rounding to the "
             "new type's (start from F32/F16/BF16 weights when you have them)\n";
      continue;
    }
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s holds %s matrices: re-quantizing from %s would compound its rounding; start "
        "from the F32, F16, BF16 or Q8_0 model",
        config.input_path, name, name));
  }
  std::vector<std::string> fallbacks;
  const std::vector<GgmlType> types =
      PlanMixture(preset, tensors, model->hparams().n_layers, &fallbacks);
  for (const std::string& line : fallbacks) err << "tandem quantize: " << line << "\n";

  GgufWriter writer;
  for (const auto& [key, value] : in.metadata()) {
    if (key != "general.file_type") writer.SetValue(key, value);
  }
  writer.SetUint32("general.file_type", preset.file_type);

  ThreadPool pool(config.threads);
  uint64_t in_bytes = 0, out_bytes = 0;
  std::map<std::string, int> mix;  // output type -> matrices
  for (size_t i = 0; i < in.tensors().size(); ++i) {
    const GgufTensorInfo& t = in.tensors()[i];
    const GgmlType type = types[i];
    const int64_t row = t.row_length();
    in_bytes += t.data.size();
    out_bytes += RowBytes(type, row) * t.rows();
    if (t.shape.size() >= 2) ++mix[std::string(TraitsOf(type).name)];
    writer.AddTensor(t.name, t.shape, type, [&t, type, row, &pool](std::vector<uint8_t>& dst) {
      ConvertRows(t.type, t.data.data(), type, dst.data(), t.rows(), row, pool);
      return absl::OkStatus();
    });
  }
  RETURN_IF_ERROR(
      writer.Write(config.output_path, TerminalProgress(config.show_progress, err, "quantize")));
  std::vector<std::string> parts;
  for (const auto& [name, count] : mix) parts.push_back(absl::StrCat(count, " ", name));
  out << absl::StrFormat("%s: %.2f MiB -> %s (%s: %s): %.2f MiB\n", config.input_path,
                         in_bytes / double(1 << 20), config.output_path, preset.name,
                         absl::StrJoin(parts, ", "), out_bytes / double(1 << 20));
  return absl::OkStatus();
}

}  // namespace tandem
