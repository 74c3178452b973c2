// Reads llama2.c's tokenizer.bin into a Vocabulary, the way llama.cpp's
// convert-llama2c-to-ggml does, so that a model built from it tokenizes like the GGUF
// files that converter writes (e.g. stories260K.gguf from tok512.bin).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/tokenizer/tokenizer.h"

namespace tandem {

// File layout (little-endian): int32 max_token_length, then until the end of the file,
// per token: float32 score, int32 length, `length` bytes of text (spaces as ' ').
// Token 0 becomes "<unk>" (unknown), 1 "<s>" and 2 "</s>" (control), empty texts are
// control, "<0xXX>" texts are byte tokens, the rest normal; ' ' is stored as "▁".
// NotFound if the file is missing; InvalidArgument if it is truncated, has a negative
// or oversized length, or holds fewer than 3 tokens.
absl::StatusOr<Vocabulary> LoadLlama2cVocabulary(const std::string& path);

// The same, from the file's bytes.
absl::StatusOr<Vocabulary> ParseLlama2cVocabulary(absl::Span<const uint8_t> bytes);

}  // namespace tandem
