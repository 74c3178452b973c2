// `tandem split`: writes a model as an edge shard (metadata with the tokenizer, the token
// embedding, layers [0, K)) and a cloud shard (layers [K, N), output norm and head; the
// embedding too if the head is tied to it), so a device stores only what it runs. Both
// keep the source's metadata and tensor names and add the source's identity and the shard
// keys of common/model/shard_info.h. Tensors are copied byte for byte, so split output
// over the shards equals split output over the source; only --edge-type re-quantizes
// the edge shard's matrices (norms stay f32, as do rows that are not whole blocks).
#include <filesystem>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/gguf/gguf_writer.h"
#include "common/model/llama_model.h"
#include "common/model/shard_info.h"
#include "common/tool/commands.h"
#include "common/tool/convert_rows.h"
#include "common/tool/progress.h"
#include "common/util/status_macros.h"
#include "common/util/thread_pool.h"

namespace tandem {
namespace {

// The layer of a "blk.<i>.<...>" tensor, nullopt for the others.
std::optional<int32_t> LayerOf(const std::string& name) {
  if (!absl::StartsWith(name, "blk.")) return std::nullopt;
  const size_t dot = name.find('.', 4);
  int32_t layer = 0;
  if (dot == std::string::npos || !absl::SimpleAtoi(name.substr(4, dot - 4), &layer)) {
    return std::nullopt;
  }
  return layer;
}

// Which shards a tensor goes to.
struct Placement {
  bool edge = false;
  bool cloud = false;
};

Placement Place(const GgufTensorInfo& t, int32_t split, bool tied_head) {
  if (std::optional<int32_t> layer = LayerOf(t.name)) {
    return {.edge = *layer < split, .cloud = *layer >= split};
  }
  if (t.name == "token_embd.weight") return {.edge = true, .cloud = tied_head};
  if (t.name == "output_norm.weight" || t.name == "output.weight") return {.cloud = true};
  // Anything else (e.g. rope_freqs.weight in some conversions) may be needed by either.
  return {.edge = true, .cloud = true};
}

// One shard being assembled.
struct Shard {
  GgufWriter writer;
  uint64_t bytes = 0;  // tensor data
  int tensors = 0;
};

void AddMetadata(const GgufFile& in, const std::string& identity, const char* role, int32_t begin,
                 int32_t end, int32_t n_layers, std::optional<GgmlType> retype, GgufWriter& w) {
  for (const auto& [key, value] : in.metadata()) {
    if (key == kIdentityKey || absl::StartsWith(key, "tandem.shard.")) continue;
    if (retype && key == "general.file_type") continue;
    w.SetValue(key, value);
  }
  if (retype) w.SetUint32("general.file_type", LlamaFileType(*retype));
  w.SetString(kIdentityKey, identity);
  w.SetString(kShardRoleKey, role);
  w.SetUint32(kShardLayerBeginKey, static_cast<uint32_t>(begin));
  w.SetUint32(kShardLayerEndKey, static_cast<uint32_t>(end));
  w.SetUint32(kShardLayersTotalKey, static_cast<uint32_t>(n_layers));
}

// Adds `t` to `shard`, converted to `target` if given and `t` is a matrix whose rows are
// whole blocks of it, else byte for byte.
void AddTensor(const GgufTensorInfo& t, std::optional<GgmlType> target, ThreadPool& pool,
               Shard& shard) {
  GgmlType type = t.type;
  const int64_t row = t.row_length();
  if (target && t.shape.size() >= 2 && row % TraitsOf(*target).block_size == 0) type = *target;
  shard.bytes += RowBytes(type, row) * t.rows();
  ++shard.tensors;
  if (type == t.type) {
    shard.writer.AddTensor(t.name, t.shape, type, [&t](std::vector<uint8_t>& dst) {
      std::copy(t.data.begin(), t.data.end(), dst.begin());
      return absl::OkStatus();
    });
    return;
  }
  shard.writer.AddTensor(t.name, t.shape, type, [&t, type, row, &pool](std::vector<uint8_t>& dst) {
    ConvertRows(t.type, t.data.data(), type, dst.data(), t.rows(), row, pool);
    return absl::OkStatus();
  });
}

double MiB(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

}  // namespace

absl::Status RunSplit(const SplitConfig& config, std::ostream& out, std::ostream& err) {
  std::optional<GgmlType> edge_type;
  if (!config.edge_type.empty()) {
    edge_type = ParseSupportedType(config.edge_type);
    if (!edge_type) {
      return absl::InvalidArgumentError(absl::StrCat("unknown edge type '", config.edge_type,
                                                     "' (use ", SupportedTypeNames(), ")"));
    }
  }
  if (config.edge_output_path.empty() || config.cloud_output_path.empty()) {
    return absl::InvalidArgumentError("both --edge-out and --cloud-out are needed");
  }
  if (config.edge_output_path == config.cloud_output_path ||
      config.edge_output_path == config.input_path ||
      config.cloud_output_path == config.input_path) {
    return absl::InvalidArgumentError("the input and the two shards must be different files");
  }
  // Loading validates the whole model before anything is written.
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LlamaModel::Load(config.input_path));
  const GgufFile& in = model->gguf();
  const int32_t n_layers = model->hparams().n_layers;
  ASSIGN_OR_RETURN(ShardInfo held, ReadShardInfo(in, n_layers));
  if (held.is_shard) {
    return absl::InvalidArgumentError(absl::StrCat(config.input_path, " is already a shard (",
                                                   held.Describe(), "); split the whole model"));
  }
  const int32_t k = config.split;
  if (k < 1 || k >= n_layers) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--at %d: the model has %d layers, so K must be in [1, %d] (the edge runs at least "
        "one layer, the worker at least one)",
        k, n_layers, n_layers - 1));
  }
  const bool tied_head = in.FindTensor("output.weight") == nullptr;

  Shard edge, cloud;
  AddMetadata(in, model->identity(), kEdgeShardRole, 0, k, n_layers, edge_type, edge.writer);
  AddMetadata(in, model->identity(), kCloudShardRole, k, n_layers, n_layers, std::nullopt,
              cloud.writer);
  ThreadPool pool(config.threads);
  uint64_t in_bytes = 0;
  for (const GgufTensorInfo& t : in.tensors()) {
    in_bytes += t.data.size();
    const Placement p = Place(t, k, tied_head);
    if (p.edge) AddTensor(t, edge_type, pool, edge);
    if (p.cloud) AddTensor(t, std::nullopt, pool, cloud);
  }
  RETURN_IF_ERROR(edge.writer.Write(config.edge_output_path,
                                    TerminalProgress(config.show_progress, err, "edge shard")));
  RETURN_IF_ERROR(cloud.writer.Write(config.cloud_output_path,
                                     TerminalProgress(config.show_progress, err, "cloud shard")));

  std::error_code ec;
  const uintmax_t in_size = std::filesystem::file_size(config.input_path, ec);
  const uintmax_t edge_size = std::filesystem::file_size(config.edge_output_path, ec);
  const uintmax_t cloud_size = std::filesystem::file_size(config.cloud_output_path, ec);
  out << absl::StrFormat("source %s: %d layers, %.2f MiB (tensors %.2f MiB), identity %s\n",
                         config.input_path, n_layers, MiB(in_size), MiB(in_bytes),
                         model->identity());
  out << absl::StrFormat(
      "edge shard %s: embedding + layers [0, %d)%s: %.2f MiB (%d tensors, %.2f MiB)\n",
      config.edge_output_path, k,
      edge_type ? absl::StrFormat(", %s", TraitsOf(*edge_type).name) : std::string(),
      MiB(edge_size), edge.tensors, MiB(edge.bytes));
  out << absl::StrFormat(
      "cloud shard %s: layers [%d, %d) + head%s: %.2f MiB (%d tensors, %.2f MiB)\n",
      config.cloud_output_path, k, n_layers, tied_head ? " (tied to the embedding, included)" : "",
      MiB(cloud_size), cloud.tensors, MiB(cloud.bytes));
  return absl::OkStatus();
}

}  // namespace tandem
