// Writes the GGUF seed corpus: small valid files made with GgufWriter (every value type,
// arrays, v2 and v3, tensors of every known type) and hand-built malformed ones.
// Usage: gguf_corpus_gen <output dir>   (the committed corpus is tests/fuzz/corpus/gguf)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "common/gguf/gguf_writer.h"
#include "tests/unit/common/gguf/gguf_test_bytes.h"

namespace tandem {
namespace {

namespace fs = std::filesystem;
using gguf_test::GgufBytes;

GgufWriter::TensorFiller Pattern(uint32_t seed) {
  return [seed](std::vector<uint8_t>& out) {
    uint32_t x = seed;
    for (uint8_t& b : out) {
      x = x * 1664525u + 1013904223u;
      b = static_cast<uint8_t>(x >> 24);
    }
    return absl::OkStatus();
  };
}

std::vector<uint8_t> ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

bool WriteBytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

// Writes `w` as v3 to `dir/name`.gguf and, if `v2` is set, a copy with version 2 (the v2
// layout is the same; v3 only added big-endian files).
bool Emit(const GgufWriter& w, const fs::path& dir, const std::string& name, bool v2) {
  const fs::path v3_path = dir / ("valid_v3_" + name + ".gguf");
  absl::Status st = w.Write(v3_path.string());
  if (!st.ok()) {
    std::cerr << name << ": " << st << "\n";
    return false;
  }
  if (!v2) return true;
  std::vector<uint8_t> bytes = ReadAll(v3_path);
  const uint32_t version = 2;
  std::memcpy(bytes.data() + 4, &version, 4);
  return WriteBytes(dir / ("valid_v2_" + name + ".gguf"), bytes);
}

GgufValue Ints(GgufValueType t, std::vector<int64_t> v) {
  return GgufValue{GgufValueType::kArray, GgufArray{t, std::move(v), {}, {}}};
}

// A complete one-layer model of `arch` (dim 32, 2 heads of 16, vocab 4) with the tensors
// its architecture has; `drop` names a tensor to leave out. Parses as GGUF; the model
// loader accepts it or refuses it with one error (tests/unit/common/model/architecture_test).
void TinyModel(GgufWriter& w, const std::string& arch, const std::string& drop = "",
               uint32_t context = 16, float rope_base = 10000.0f) {
  auto key = [&](const char* k) { return arch + "." + k; };
  w.SetString("general.architecture", arch);
  w.SetUint32(key("context_length"), context);
  w.SetUint32(key("embedding_length"), 32);
  w.SetUint32(key("block_count"), 1);
  w.SetUint32(key("feed_forward_length"), 32);
  w.SetUint32(key("attention.head_count"), 2);
  w.SetFloat32(key("attention.layer_norm_rms_epsilon"), 1e-5f);
  w.SetFloat32(key("rope.freq_base"), rope_base);
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  w.SetFloat32Array("tokenizer.ggml.scores", {0, 0, 0, -1});
  w.SetInt32Array("tokenizer.ggml.token_type", {2, 3, 3, 1});
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors = {
      {"token_embd.weight", {32, 4}},         {"output_norm.weight", {32}},
      {"blk.0.attn_norm.weight", {32}},       {"blk.0.attn_q.weight", {32, 32}},
      {"blk.0.attn_k.weight", {32, 32}},      {"blk.0.attn_v.weight", {32, 32}},
      {"blk.0.attn_output.weight", {32, 32}}, {"blk.0.ffn_norm.weight", {32}},
      {"blk.0.ffn_gate.weight", {32, 32}},    {"blk.0.ffn_up.weight", {32, 32}},
      {"blk.0.ffn_down.weight", {32, 32}}};
  if (arch == "qwen2") {
    for (const char* b : {"blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias"}) {
      tensors.push_back({b, {32}});
    }
  }
  if (arch == "qwen3") {
    tensors.push_back({"blk.0.attn_q_norm.weight", {16}});
    tensors.push_back({"blk.0.attn_k_norm.weight", {16}});
  }
  if (arch == "llama" && rope_base == 500000.0f) tensors.push_back({"rope_freqs.weight", {8}});
  uint32_t seed = 100;
  for (const auto& [name, shape] : tensors) {
    if (name == drop) continue;
    if (shape.size() == 1) {  // norms, biases, rope factors: positive, finite f32
      w.AddTensor(name, shape, GgmlType::kF32, [](std::vector<uint8_t>& out) {
        const float one = 1.0f;
        for (size_t i = 0; i + 4 <= out.size(); i += 4) std::memcpy(out.data() + i, &one, 4);
        return absl::OkStatus();
      });
    } else {
      w.AddTensor(name, shape, GgmlType::kQ8_0, Pattern(++seed));
    }
  }
}

bool WriteModels(const fs::path& dir) {
  bool ok = true;
  for (const char* arch : {"qwen2", "qwen3"}) {
    GgufWriter w;
    TinyModel(w, arch);
    ok &= Emit(w, dir, std::string("model_") + arch, false);
  }
  {
    GgufWriter w;
    TinyModel(w, "llama", "", 131072, 500000.0f);
    ok &= Emit(w, dir, "model_llama3", false);
  }
  // Valid GGUF, invalid models: one clear error each from the loader.
  {
    GgufWriter w;
    TinyModel(w, "gpt2");
    ok &= Emit(w, dir, "badmodel_unknown_arch", false);
  }
  {
    GgufWriter w;
    TinyModel(w, "qwen2", "blk.0.attn_k.bias");
    ok &= Emit(w, dir, "badmodel_qwen2_no_bias", false);
  }
  {
    GgufWriter w;
    TinyModel(w, "qwen3", "blk.0.attn_q_norm.weight");
    ok &= Emit(w, dir, "badmodel_qwen3_no_q_norm", false);
  }
  {
    GgufWriter w;
    TinyModel(w, "llama", "rope_freqs.weight", 131072, 500000.0f);
    ok &= Emit(w, dir, "badmodel_llama3_no_rope_freqs", false);
  }
  return ok;
}

bool WriteValid(const fs::path& dir) {
  bool ok = true;
  {
    GgufWriter w;
    w.SetValue("u8", {GgufValueType::kUint8, uint64_t{200}});
    w.SetValue("i8", {GgufValueType::kInt8, int64_t{-100}});
    w.SetValue("u16", {GgufValueType::kUint16, uint64_t{60000}});
    w.SetValue("i16", {GgufValueType::kInt16, int64_t{-30000}});
    w.SetValue("u32", {GgufValueType::kUint32, uint64_t{4000000000}});
    w.SetValue("i32", {GgufValueType::kInt32, int64_t{-2000000000}});
    w.SetValue("f32", {GgufValueType::kFloat32, 0.5});
    w.SetValue("bool", {GgufValueType::kBool, true});
    w.SetValue("str", {GgufValueType::kString, std::string("hello")});
    w.SetValue("u64", {GgufValueType::kUint64, uint64_t{1} << 63});
    w.SetValue("i64", {GgufValueType::kInt64, int64_t{-1} << 62});
    w.SetValue("f64", {GgufValueType::kFloat64, -1.25e-300});
    ok &= Emit(w, dir, "scalars", true);
  }
  {
    GgufWriter w;
    w.SetValue("a.u8", Ints(GgufValueType::kUint8, {0, 255}));
    w.SetValue("a.i8", Ints(GgufValueType::kInt8, {-128, 127}));
    w.SetValue("a.u16", Ints(GgufValueType::kUint16, {1, 2, 3}));
    w.SetValue("a.i16", Ints(GgufValueType::kInt16, {-1}));
    w.SetValue("a.u32", Ints(GgufValueType::kUint32, {7}));
    w.SetValue("a.i32", Ints(GgufValueType::kInt32, {1, 2, 3, 6}));
    w.SetValue("a.u64", Ints(GgufValueType::kUint64, {-1}));
    w.SetValue("a.i64", Ints(GgufValueType::kInt64, {42}));
    w.SetValue("a.bool", Ints(GgufValueType::kBool, {0, 1}));
    w.SetValue("a.empty", Ints(GgufValueType::kUint8, {}));
    w.SetFloat32Array("a.f32", {0.0f, -1.0f, 3.5f});
    w.SetValue("a.f64", {GgufValueType::kArray, GgufArray{GgufValueType::kFloat64, {}, {2.0}, {}}});
    w.SetStringArray("a.str", {"<unk>", "<s>", "</s>", "", "\xe2\x96\x81the"});
    ok &= Emit(w, dir, "arrays", true);
  }
  {
    // A tiny llama-shaped model: what the model loader and tokenizer look for.
    GgufWriter w;
    w.SetString("general.architecture", "llama");
    w.SetString("general.name", "tiny");
    w.SetUint32("llama.context_length", 16);
    w.SetUint32("llama.embedding_length", 32);
    w.SetUint32("llama.block_count", 1);
    w.SetUint32("llama.feed_forward_length", 32);
    w.SetUint32("llama.attention.head_count", 2);
    w.SetFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.SetString("tokenizer.ggml.model", "llama");
    w.SetStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
    w.SetFloat32Array("tokenizer.ggml.scores", {0, 0, 0, -1});
    w.SetInt32Array("tokenizer.ggml.token_type", {2, 3, 3, 1});
    w.AddTensor("token_embd.weight", {32, 4}, GgmlType::kF32, Pattern(1));
    w.AddTensor("output_norm.weight", {32}, GgmlType::kF32, Pattern(2));
    w.AddTensor("blk.0.attn_q.weight", {32, 32}, GgmlType::kQ8_0, Pattern(3));
    w.AddTensor("blk.0.ffn_down.weight", {32, 32}, GgmlType::kQ4_0, Pattern(4));
    w.AddTensor("blk.0.ffn_up.weight", {32, 32}, GgmlType::kF16, Pattern(5));
    ok &= Emit(w, dir, "tiny_llama", true);
  }
  {
    // One tensor of every known type, including ones Tandem only stores.
    GgufWriter w;
    for (uint32_t id = 0; id < 64; ++id) {
      std::optional<GgmlTypeTraits> tr = TraitsOf(id);
      if (!tr) continue;
      w.AddTensor(std::string(tr->name), {tr->block_size, 2}, static_cast<GgmlType>(id),
                  Pattern(id + 10));
    }
    ok &= Emit(w, dir, "all_types", true);
  }
  {
    GgufWriter w;
    w.SetValue("general.alignment", {GgufValueType::kUint32, uint64_t{64}});
    w.AddTensor("a", {3}, GgmlType::kF32, Pattern(1));
    w.AddTensor("b", {2, 2, 2, 2}, GgmlType::kF16, Pattern(2));
    ok &= Emit(w, dir, "align64", false);
  }
  {
    GgufWriter w;
    ok &= Emit(w, dir, "empty", true);
  }
  ok &= WriteModels(dir);
  return ok;
}

constexpr uint32_t kF32 = 0;

bool WriteMalformed(const fs::path& dir) {
  std::vector<std::pair<std::string, GgufBytes>> files;
  auto add = [&](std::string name) -> GgufBytes& {
    files.emplace_back(std::move(name), GgufBytes());
    return files.back().second;
  };
  add("bad_magic").U32(0x46554746).U32(3).U64(0).U64(0);
  add("bad_version1").Header(1, 0, 0);
  add("bad_version4").Header(4, 0, 0);
  add("bad_big_endian").Header(0x03000000, 0, 0);
  add("bad_truncated_header").Header(3, 1, 1).Zeros(3);
  add("bad_huge_string").Header(3, 0, 1).U64(uint64_t{1} << 62).Zeros(16);
  add("bad_huge_array").Header(3, 0, 1).Str("k").U32(9).U32(4).U64(uint64_t{1} << 61).Zeros(16);
  add("bad_huge_string_array").Header(3, 0, 1).Str("k").U32(9).U32(8).U64(uint64_t{1} << 40);
  add("bad_huge_kv_count").Header(3, 0, uint64_t{1} << 60).Zeros(32);
  add("bad_huge_tensor_count").Header(3, uint64_t{1} << 60, 0).Zeros(32);
  add("bad_nested_array").Header(3, 0, 1).Str("k").U32(9).U32(9).U64(1).U32(4).U64(1).U32(7);
  add("bad_array_element_type").Header(3, 0, 1).Str("k").U32(9).U32(99).U64(0);
  add("bad_data_section_past_eof").Header(3, 1, 0).Tensor("t", {1}, kF32, 0);
  // Valid, hand-built: metadata only, without the (optional) padding; a positive int32.
  add("valid_v3_unpadded_metadata")
      .Header(3, 0, 2)
      .KvU32("llama.block_count", 1)
      .Str("i32")
      .U32(5)
      .Put(int32_t{7});
  add("bad_value_type").Header(3, 0, 1).Str("k").U32(13).U32(0);
  add("bad_bool").Header(3, 0, 1).Str("k").U32(7).U8(2);
  add("bad_duplicate_key").Header(3, 0, 2).KvU32("k", 1).KvU32("k", 2);
  add("bad_ndims0").Header(3, 1, 0).Str("t").U32(0).U32(kF32).U64(0).Pad().Zeros(32);
  add("bad_ndims5").Header(3, 1, 0).Tensor("t", {1, 1, 1, 1, 1}, kF32, 0).Pad().Zeros(32);
  add("bad_dim_negative").Header(3, 1, 0).Tensor("t", {4, -1}, kF32, 0).Pad().Zeros(32);
  add("bad_dim_overflow")
      .Header(3, 1, 0)
      .Tensor("t", {int64_t{1} << 32, int64_t{1} << 32}, kF32, 0)
      .Pad()
      .Zeros(32);
  add("bad_tensor_type").Header(3, 1, 0).Tensor("t", {32}, 4, 0).Pad().Zeros(128);
  add("bad_block_multiple").Header(3, 1, 0).Tensor("t", {33}, 8, 0).Pad().Zeros(128);
  // A K-quant (q4_K, q6_K) matrix with Qwen2.5-0.5B's 896-value rows: not whole 256-value
  // super-blocks (llama-quantize gives such rows a 32-value type instead).
  add("bad_kquant_row_896").Header(3, 1, 0).Tensor("t", {896, 2}, 12, 0).Pad().Zeros(1024);
  add("bad_kquant_row_64").Header(3, 1, 0).Tensor("t", {64, 4}, 14, 0).Pad().Zeros(1024);
  add("bad_misaligned").Header(3, 1, 0).Tensor("t", {4}, kF32, 4).Pad().Zeros(64);
  add("bad_data_past_eof").Header(3, 1, 0).Tensor("t", {64, 16}, kF32, 0).Pad().Zeros(1000);
  add("bad_offset_huge").Header(3, 1, 0).Tensor("t", {4}, kF32, uint64_t{1} << 63).Pad();
  // Two F32 tensors, the second at offset 32: the same name, or a first one too long.
  struct TwoTensors {
    std::string file, first;
    int64_t first_values;
    std::string second;
    size_t data_bytes;
  };
  for (const TwoTensors& t : {TwoTensors{"bad_duplicate_tensor", "t", 4, "t", 64},
                              TwoTensors{"bad_overlap", "a", 16, "b", 96}}) {
    add(t.file)
        .Header(3, 2, 0)
        .Tensor(t.first, {t.first_values}, kF32, 0)
        .Tensor(t.second, {4}, kF32, 32)
        .Pad()
        .Zeros(t.data_bytes);
  }
  for (uint32_t alignment : {0u, 48u}) {
    add("bad_alignment" + std::to_string(alignment))
        .Header(3, 0, 1)
        .KvU32("general.alignment", alignment);
  }
  add("bad_alignment_type").Header(3, 0, 1).KvStr("general.alignment", "32");
  add("bad_long_name").Header(3, 1, 0).Tensor(std::string(64, 'x'), {4}, kF32, 0).Pad().Zeros(32);
  bool ok = true;
  for (const auto& [name, bytes] : files) ok &= WriteBytes(dir / (name + ".gguf"), bytes.bytes());
  return ok;
}

// Prefixes of a valid model: cut inside the header, metadata, tensor infos and data.
bool WriteTruncated(const fs::path& dir) {
  const std::vector<uint8_t> full = ReadAll(dir / "valid_v3_tiny_llama.gguf");
  if (full.size() < 64) return false;
  bool ok = true;
  for (size_t n : {size_t{7}, size_t{23}, size_t{100}, size_t{400}, size_t{700}, full.size() / 2,
                   full.size() - 40}) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + std::min(n, full.size() - 1));
    ok &= WriteBytes(dir / ("bad_truncated_" + std::to_string(prefix.size()) + ".gguf"), prefix);
  }
  return ok;
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: gguf_corpus_gen <output dir>\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const bool ok =
      tandem::WriteValid(dir) && tandem::WriteMalformed(dir) && tandem::WriteTruncated(dir);
  return ok ? 0 : 1;
}
