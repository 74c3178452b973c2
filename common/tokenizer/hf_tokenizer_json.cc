#include "common/tokenizer/hf_tokenizer_json.h"

#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"

namespace tandem {
namespace {

using Json = nlohmann::json;

absl::StatusOr<Json> ReadJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  Json json = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, " is not JSON"));
  return json;
}

// The regexes of the pre-tokenizers llama.cpp names (convert_hf_to_gguf_update.py's models).
constexpr char kLlama3Regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr char kQwen2Regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

absl::StatusOr<std::string> PreName(const Json& pre, const std::string& path) {
  if (pre.is_object() && pre.value("type", "") == "ByteLevel" && pre.value("use_regex", true)) {
    return std::string("gpt-2");
  }
  const Json* list = pre.is_object() ? &pre["pretokenizers"] : nullptr;
  if (list != nullptr && list->is_array()) {
    bool digits = false;
    for (const Json& p : *list) {
      const std::string type = p.value("type", "");
      if (type == "Digits" && p.value("individual_digits", false)) digits = true;
      if (type == "Split" && p.contains("pattern") && p["pattern"].contains("Regex")) {
        const std::string regex = p["pattern"]["Regex"].get<std::string>();
        if (regex == kLlama3Regex) return std::string("llama-bpe");
        if (regex == kQwen2Regex) return std::string("qwen2");
      }
      if (type == "ByteLevel" && p.value("use_regex", false)) {
        return std::string(digits ? "smollm" : "gpt-2");
      }
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": unrecognised pre-tokenizer ", pre.dump().substr(0, 200)));
}

// <|...|> and a few others are control tokens even when not marked special (the
// converter's does_token_look_special).
bool LooksSpecial(const std::string& t) {
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" ||
         (absl::StartsWith(t, "<|") && absl::EndsWith(t, "|>")) ||
         (absl::StartsWith(t, "<\xEF\xBD\x9C") && absl::EndsWith(t, "\xEF\xBD\x9C>")) ||
         (absl::StartsWith(t, "<unused") && absl::EndsWith(t, ">"));
}

// A special token in tokenizer_config.json: "text" or {"content": "text", ...}.
std::string TokenText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return "";
}

}  // namespace

absl::StatusOr<HfTokenizer> LoadHfTokenizer(const std::string& tokenizer_path,
                                            const std::string& config_path) {
  absl::StatusOr<Json> tok = ReadJson(tokenizer_path);
  if (!tok.ok()) return tok.status();
  const Json& model = (*tok)["model"];
  if (!model.is_object() || model.value("type", "") != "BPE" || !model["vocab"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(tokenizer_path, ": not a BPE tokenizer.json (model.type must be BPE)"));
  }
  std::map<int64_t, std::pair<std::string, TokenType>> by_id;
  for (const auto& [piece, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(tokenizer_path, ": bad id of ", piece));
    }
    by_id[id.get<int64_t>()] = {piece, TokenType::kNormal};
  }
  if ((*tok).contains("added_tokens") && (*tok)["added_tokens"].is_array()) {
    for (const Json& a : (*tok)["added_tokens"]) {
      const int64_t id = a.value("id", int64_t{-1});
      std::string text = a.value("content", "");
      if (id < 0 || text.empty()) continue;
      if (a.value("special", false) || LooksSpecial(text)) {
        by_id[id] = {text, TokenType::kControl};
      } else {
        // The converter writes user-defined tokens with "▁" as a space.
        by_id[id] = {absl::StrReplaceAll(text, {{"\xE2\x96\x81", " "}}), TokenType::kUserDefined};
      }
    }
  }
  if (by_id.empty()) return absl::InvalidArgumentError(tokenizer_path + ": empty vocabulary");
  const int64_t n = by_id.rbegin()->first + 1;
  if (n > (int64_t{1} << 24)) return absl::InvalidArgumentError(tokenizer_path + ": ids too large");

  HfTokenizer out;
  Vocabulary& v = out.vocab;
  v.kind = VocabKind::kBytePair;
  v.add_space_prefix = false;
  for (int64_t id = 0; id < n; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      v.pieces.push_back(absl::StrCat("[PAD", id, "]"));
      v.types.push_back(TokenType::kUnused);
    } else {
      v.pieces.push_back(it->second.first);
      v.types.push_back(it->second.second);
    }
  }
  v.scores.assign(v.pieces.size(), 0.0f);
  if (!model["merges"].is_array()) {
    return absl::InvalidArgumentError(tokenizer_path + ": model.merges is missing");
  }
  for (const Json& m : model["merges"]) {
    if (m.is_string()) {
      v.merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      v.merges.push_back(absl::StrCat(m[0].get<std::string>(), " ", m[1].get<std::string>()));
    } else {
      return absl::InvalidArgumentError(tokenizer_path + ": a merge is neither \"a b\" nor [a, b]");
    }
  }
  absl::StatusOr<std::string> pre = PreName((*tok)["pre_tokenizer"], tokenizer_path);
  if (!pre.ok()) return pre.status();
  v.pre = *pre;
  // Defaults as llama.cpp reads a file without the keys: BOS added by llama-bpe only.
  v.add_bos = v.pre == "llama-bpe";
  v.bos_id = v.eos_id = 11;
  v.unk_id = -1;

  if (!config_path.empty()) {
    absl::StatusOr<Json> cfg = ReadJson(config_path);
    if (!cfg.ok()) return cfg.status();
    auto find = [&](const std::string& text) -> int32_t {
      if (text.empty()) return -1;
      for (int32_t id = static_cast<int32_t>(v.pieces.size()) - 1; id >= 0; --id) {
        if (v.pieces[id] == text) return id;
      }
      return -1;
    };
    for (auto [key, id] : {std::pair<const char*, int32_t*>{"bos_token", &v.bos_id},
                           {"eos_token", &v.eos_id},
                           {"unk_token", &v.unk_id},
                           {"pad_token", &v.pad_id}}) {
      if (cfg->contains(key)) {
        if (int32_t found = find(TokenText((*cfg)[key])); found >= 0) *id = found;
      }
    }
    if (cfg->contains("add_bos_token") && (*cfg)["add_bos_token"].is_boolean()) {
      v.add_bos = (*cfg)["add_bos_token"].get<bool>();
    }
    if (cfg->contains("add_eos_token") && (*cfg)["add_eos_token"].is_boolean()) {
      v.add_eos = (*cfg)["add_eos_token"].get<bool>();
    }
    if (cfg->contains("chat_template") && (*cfg)["chat_template"].is_string()) {
      out.chat_template = (*cfg)["chat_template"].get<std::string>();
    }
  }
  return out;
}

void WriteTokenizerKeys(const Vocabulary& vocab, const std::string& chat_template, GgufWriter& w) {
  const bool bpe = vocab.kind == VocabKind::kBytePair;
  w.SetString("tokenizer.ggml.model", bpe ? "gpt2" : "llama");
  if (bpe) w.SetString("tokenizer.ggml.pre", vocab.pre.empty() ? "default" : vocab.pre);
  w.SetStringArray("tokenizer.ggml.tokens", vocab.pieces);
  if (!bpe) w.SetFloat32Array("tokenizer.ggml.scores", vocab.scores);
  std::vector<int32_t> types;
  for (TokenType t : vocab.types) types.push_back(static_cast<int32_t>(t));
  w.SetInt32Array("tokenizer.ggml.token_type", types);
  if (bpe) w.SetStringArray("tokenizer.ggml.merges", vocab.merges);
  if (vocab.unk_id >= 0) w.SetUint32("tokenizer.ggml.unknown_token_id", vocab.unk_id);
  w.SetUint32("tokenizer.ggml.bos_token_id", vocab.bos_id);
  w.SetUint32("tokenizer.ggml.eos_token_id", vocab.eos_id);
  if (vocab.pad_id >= 0) w.SetUint32("tokenizer.ggml.padding_token_id", vocab.pad_id);
  if (bpe) {
    w.SetBool("tokenizer.ggml.add_bos_token", vocab.add_bos);
    w.SetBool("tokenizer.ggml.add_eos_token", vocab.add_eos);
  }
  if (!chat_template.empty()) w.SetString("tokenizer.chat_template", chat_template);
}

}  // namespace tandem
