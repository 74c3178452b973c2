// The config file tandem-tune writes and tandem-edge reads (--config): the chosen split
// point, codec and worker address, plus what the tuner predicted and measured, for the
// record. JSON:
//   {"format": "tandem-tune/1", "split": 4, "codec": "q8", "cloud": "host:port",
//    "model": "/path/model.gguf", "model_identity": "...", "predicted": {...}, ...}
// tandem-edge uses split, codec, cloud and model; flags given explicitly override them.
// Other keys are informational and ignored by the reader.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/codec/codec_kind.h"

namespace tandem::tune {

inline constexpr char kTunedConfigFormat[] = "tandem-tune/1";

struct TunedConfig {
  int32_t split = 0;
  CodecKind codec = CodecKind::kQ8;
  std::string cloud;  // HOST:PORT of the worker the tuner measured
  std::string model;  // the model file the tuner profiled (may be empty)

  // Informational (written, not needed by the reader).
  std::string model_identity;
  std::string objective;
  double predicted_per_token_ms = 0;
  double predicted_first_token_ms = 0;
  double predicted_device_mib = 0;
  double bytes_per_token = 0;
  double link_rtt_ms = 0;
  double link_uplink_mbit_per_s = 0;
  bool link_simulated = false;
};

// The JSON text of `config` (pretty-printed, newline-terminated).
std::string TunedConfigToJson(const TunedConfig& config);

// InvalidArgument naming the problem: not JSON, another format version, a missing or
// mistyped split/codec/cloud, split < 1, an unknown codec.
absl::StatusOr<TunedConfig> ParseTunedConfig(std::string_view json);

// Reads and parses `path` (errors name the file).
absl::StatusOr<TunedConfig> ReadTunedConfig(const std::string& path);

// Writes `path` via `<path>.tmp` and a rename, so a reader never sees half a file.
absl::Status WriteTunedConfig(const TunedConfig& config, const std::string& path);

}  // namespace tandem::tune
