// libFuzzer target: the hidden-state codecs' decoders on arbitrary payloads. Byte 0 picks
// the codec, byte 1 the rows (1..16), byte 2 the width (32..1024, a multiple of 32); the
// rest, padded or cut to the exact encoded size, is the payload. Decoding must never
// crash or read out of bounds; it may refuse (non-finite values, bad scales).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/codec/codec_kind.h"
#include "common/codec/hidden_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const tandem::CodecKind kind =
      tandem::kAllCodecKinds[data[0] % std::size(tandem::kAllCodecKinds)];
  const int32_t n = 1 + data[1] % 16;
  const int32_t dim = 32 * (1 + data[2] % 32);
  if (!tandem::ValidateCodecDim(kind, dim).ok()) return 0;
  std::string payload(reinterpret_cast<const char*>(data + 3), size - 3);
  payload.resize(tandem::EncodedSize(kind, n, dim), '\0');
  std::vector<float> out(static_cast<size_t>(n) * dim);
  (void)tandem::DecodeHidden(kind, payload, n, dim, absl::MakeSpan(out));
  return 0;
}
