// `tandem info`: what a GGUF model file holds.
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/kernels/cpu_features.h"
#include "common/kernels/matmul.h"
#include "common/model/llama_model.h"
#include "common/model/shard_info.h"
#include "common/tool/commands.h"
#include "common/util/status_macros.h"

namespace tandem {

absl::Status RunInfo(const InfoConfig& config, std::ostream& out, std::ostream& err) {
  // Load all the file holds (a whole model or a shard), validated as the engine would.
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LlamaModel::Load(config.model_path));
  const GgufFile& f = model->gguf();
  const LlamaHparams& hp = model->hparams();
  out << absl::StrFormat("file:           %s (GGUF v%d, %d bytes)\n", config.model_path,
                         f.version(), f.file_size());
  const bool has_bias =
      model->layer_begin() < model->layer_end() && model->layer(model->layer_begin()).bq != nullptr;
  out << absl::StrFormat(
      "architecture:   %s (%s rope%s%s%s)\n", hp.arch.name, hp.arch.neox_rope ? "neox" : "normal",
      model->rope_freqs() != nullptr ? ", llama3 rope_freqs" : "", has_bias ? ", q/k/v biases" : "",
      hp.arch.qk_norm ? ", q/k head norms" : "");
  out << absl::StrFormat("identity:       %s\n", model->identity());
  ASSIGN_OR_RETURN(const ShardInfo held, ReadShardInfo(f, hp.n_layers));
  out << absl::StrFormat("holds:          %s\n", held.Describe());
  out << absl::StrFormat("vocab:          %d\n", hp.n_vocab);
  out << absl::StrFormat("dim:            %d\n", hp.dim);
  out << absl::StrFormat("ffn dim:        %d\n", hp.ffn_dim);
  out << absl::StrFormat("layers:         %d\n", hp.n_layers);
  out << absl::StrFormat("heads:          %d (kv heads %d, head dim %d)\n", hp.n_heads,
                         hp.n_kv_heads, hp.head_dim);
  out << absl::StrFormat("output head:    %s\n", !model->has_head() ? "not held"
                                                 : model->tied_head()
                                                     ? "tied to token_embd (stored once)"
                                                     : "output.weight");
  out << absl::StrFormat("context length: %d\n", hp.context_length);
  out << absl::StrFormat("rms eps:        %g\n", hp.rms_eps);
  out << absl::StrFormat("rope base:      %g\n", hp.rope_freq_base);

  std::map<GgmlType, std::pair<int, uint64_t>> by_type;  // type -> (count, bytes)
  int64_t params = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    auto& [count, bytes] = by_type[t.type];
    ++count;
    bytes += t.data.size();
    params += t.num_elements();
  }
  out << absl::StrFormat("parameters:     %d (%.2f M)\n", params, params / 1e6);
  out << absl::StrFormat("tensor mix and kernels on this CPU (%s; TANDEM_CPU caps it):\n",
                         KernelSetName());
  for (const auto& [type, cb] : by_type) {
    const MatMulKernelNames k = MatMulKernelsFor(type);
    out << absl::StrFormat("  %-6s %4d tensors  %10.2f MiB  decode: %s, prompt: %s\n",
                           TraitsOf(type).name, cb.first, cb.second / double(1 << 20), k.decode,
                           k.prompt);
  }
  if (config.tensors) {
    for (const GgufTensorInfo& t : f.tensors()) {
      out << absl::StrFormat("  %-28s %-6s [%s]\n", t.name, TraitsOf(t.type).name,
                             absl::StrJoin(t.shape, ", "));
    }
  }
  return absl::OkStatus();
}

}  // namespace tandem
