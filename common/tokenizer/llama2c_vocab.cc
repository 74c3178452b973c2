#include "common/tokenizer/llama2c_vocab.h"

#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/util/mapped_file.h"
#include "common/util/status_macros.h"
#include "common/util/string_view_compat.h"

namespace tandem {
namespace {

// Little-endian reads with bounds checks; the cursor only moves on success.
class Reader {
 public:
  explicit Reader(absl::Span<const uint8_t> bytes) : bytes_(bytes) {}

  bool done() const { return pos_ == bytes_.size(); }
  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  absl::StatusOr<T> Read(std::string_view what) {
    if (remaining() < sizeof(T)) return Truncated(what);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  absl::StatusOr<std::string> ReadString(size_t n, std::string_view what) {
    if (remaining() < n) return Truncated(what);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  absl::Status Truncated(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("llama2.c tokenizer truncated: ", AbslView(what), " at byte ", pos_));
  }

  absl::Span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// The converter tests sscanf(text, "<0x%02hhX>") == 1: "<0x" and a hex digit.
bool LooksLikeByteToken(std::string_view text) {
  return text.size() >= 4 && text.substr(0, 3) == "<0x" &&
         absl::ascii_isxdigit(static_cast<unsigned char>(text[3]));
}

}  // namespace

absl::StatusOr<Vocabulary> ParseLlama2cVocabulary(absl::Span<const uint8_t> bytes) {
  Reader reader(bytes);
  ASSIGN_OR_RETURN(const int32_t max_token_length, reader.Read<int32_t>("max_token_length"));
  if (max_token_length < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("llama2.c tokenizer: negative max_token_length ", max_token_length));
  }
  Vocabulary vocab;  // ids: unk 0, bos 1, eos 2 (the converter's constants)
  while (!reader.done()) {
    const int32_t id = static_cast<int32_t>(vocab.pieces.size());
    const std::string what = absl::StrCat("token ", id);
    ASSIGN_OR_RETURN(const float score, reader.Read<float>(what));
    ASSIGN_OR_RETURN(const int32_t length, reader.Read<int32_t>(what));
    if (length < 0 || length > max_token_length) {
      return absl::InvalidArgumentError(
          absl::StrCat("llama2.c tokenizer: token ", id, " has length ", length,
                       " outside [0, max_token_length=", max_token_length, "]"));
    }
    ASSIGN_OR_RETURN(std::string text, reader.ReadString(length, what));

    TokenType type = TokenType::kNormal;
    if (id == vocab.unk_id) {
      text = "<unk>";
      type = TokenType::kUnknown;
    } else if (id == vocab.bos_id) {
      text = "<s>";  // llama2.c stores "\n<s>\n"
      type = TokenType::kControl;
    } else if (id == vocab.eos_id) {
      text = "</s>";
      type = TokenType::kControl;
    } else if (text.empty()) {
      type = TokenType::kControl;
    } else if (LooksLikeByteToken(text)) {
      type = TokenType::kByte;
    }
    vocab.pieces.push_back(absl::StrReplaceAll(text, {{" ", "\xE2\x96\x81"}}));
    vocab.scores.push_back(score);
    vocab.types.push_back(type);
  }
  if (vocab.pieces.size() < 3) {
    return absl::InvalidArgumentError(absl::StrCat("llama2.c tokenizer has ", vocab.pieces.size(),
                                                   " tokens; needs <unk>, <s>, </s>"));
  }
  return vocab;
}

absl::StatusOr<Vocabulary> LoadLlama2cVocabulary(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  absl::StatusOr<Vocabulary> vocab = ParseLlama2cVocabulary(file->bytes());
  if (!vocab.ok()) {
    return absl::Status(vocab.status().code(), absl::StrCat(path, ": ", vocab.status().message()));
  }
  return vocab;
}

}  // namespace tandem
