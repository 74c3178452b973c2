// Hidden-state codecs: encode hidden[n, dim] (row-major floats, one row per position) into
// the bytes of HiddenChunk.payload and back. Every codec encodes each row independently
// into the same number of bytes, so a payload is n rows of RowBytes(dim) back to back.
//
//   codec  row bytes (dim = d)        bits/value    error
//   f32    4d                         32            none
//   f16    2d                         16            half precision (RNE)
//   q8     34 d/32                    8.5           <= block scale / 2 (scale = amax/127)
//   q4     40 d/64 + 4 max(1, d/64)   5.5 (64 | d)  <= 0.27 block scale (~amax); 4-bit codes
//          (+ 21 if d % 64 == 32)                   with sub-block scales; outlier channels
//                                                   at half precision
//
// Errors (all InvalidArgument; rows are positions relative to the first row):
// bad shapes and sizes, non-finite input values and values the codec's half-precision
// fields cannot hold (encode), malformed payloads (decode). Messages name the row and
// the channel or block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/codec/codec_kind.h"

namespace tandem {

class HiddenCodec {
 public:
  virtual ~HiddenCodec() = default;

  virtual CodecKind kind() const = 0;

  // OK if this codec can carry rows of `dim` values (e.g. q8 and q4 need dim % 32 == 0).
  // Check once at session setup; the size functions below assume it passed.
  absl::Status ValidateDim(int32_t dim) const;

  // Encoded bytes of one row of `dim` values.
  virtual size_t RowBytes(int32_t dim) const = 0;
  // Encoded bytes of n rows: exactly the payload size Encode produces and Decode accepts.
  size_t EncodedSize(int32_t n, int32_t dim) const {
    return static_cast<size_t>(n) * RowBytes(dim);
  }

  // Replaces *out with the encoding of hidden[n, dim] (n >= 0).
  absl::Status Encode(absl::Span<const float> hidden, int32_t n, int32_t dim,
                      std::string* out) const;

  // out[n, dim] = the decoding of `payload`. Validates everything: the payload size must
  // be exactly EncodedSize(n, dim), and every field and decoded value must be valid and
  // finite. On error `out` holds unspecified values.
  absl::Status Decode(std::string_view payload, int32_t n, int32_t dim,
                      absl::Span<float> out) const;

 protected:
  // Codec-specific constraints on dim (> 0 is already checked).
  virtual absl::Status CheckDim(int32_t dim) const { return absl::OkStatus(); }
  // hidden: [n, dim], all finite; out: EncodedSize(n, dim) bytes.
  virtual absl::Status EncodeRows(absl::Span<const float> hidden, int32_t n, int32_t dim,
                                  char* out) const = 0;
  // payload: exactly EncodedSize(n, dim) bytes; out: [n, dim].
  virtual absl::Status DecodeRows(std::string_view payload, int32_t n, int32_t dim,
                                  absl::Span<float> out) const = 0;
};

// The protocol's codec of each kind (stateless; lives for the whole program).
const HiddenCodec& GetHiddenCodec(CodecKind kind);

// Shorthands for GetHiddenCodec(kind).X(...).
absl::Status ValidateCodecDim(CodecKind kind, int32_t dim);
size_t EncodedSize(CodecKind kind, int32_t n, int32_t dim);
absl::Status EncodeHidden(CodecKind kind, absl::Span<const float> hidden, int32_t n, int32_t dim,
                          std::string* out);
absl::Status DecodeHidden(CodecKind kind, std::string_view payload, int32_t n, int32_t dim,
                          absl::Span<float> out);

}  // namespace tandem
