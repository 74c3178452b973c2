#include "edge/tune/tuned_config.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tandem::tune {

using nlohmann::json;

std::string TunedConfigToJson(const TunedConfig& c) {
  json j;
  j["format"] = kTunedConfigFormat;
  j["split"] = c.split;
  j["codec"] = std::string(CodecKindName(c.codec));
  j["cloud"] = c.cloud;
  if (!c.model.empty()) j["model"] = c.model;
  if (!c.model_identity.empty()) j["model_identity"] = c.model_identity;
  if (!c.objective.empty()) j["objective"] = c.objective;
  j["predicted"] = {{"per_token_ms", c.predicted_per_token_ms},
                    {"first_token_ms", c.predicted_first_token_ms},
                    {"device_mib", c.predicted_device_mib},
                    {"bytes_per_token", c.bytes_per_token}};
  j["link"] = {{"rtt_ms", c.link_rtt_ms},
               {"uplink_mbit_per_s", c.link_uplink_mbit_per_s},
               {"simulated", c.link_simulated}};
  return j.dump(2) + "\n";
}

absl::StatusOr<TunedConfig> ParseTunedConfig(std::string_view text) {
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("not a JSON object");
  }
  if (j.contains("format") &&
      (!j["format"].is_string() || j["format"].get<std::string>() != kTunedConfigFormat)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"format\" must be \"", kTunedConfigFormat, "\""));
  }
  TunedConfig c;
  if (!j.contains("split") || !j["split"].is_number_integer()) {
    return absl::InvalidArgumentError("\"split\" (an integer) is missing");
  }
  const int64_t split = j["split"].get<int64_t>();
  if (split < 1 || split > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("\"split\" is ", split, ", must be >= 1"));
  }
  c.split = static_cast<int32_t>(split);
  if (!j.contains("codec") || !j["codec"].is_string()) {
    return absl::InvalidArgumentError("\"codec\" (a string) is missing");
  }
  auto codec = ParseCodecKind(j["codec"].get<std::string>());
  if (!codec.ok())
    return absl::InvalidArgumentError(absl::StrCat("\"codec\": ", codec.status().message()));
  c.codec = *codec;
  if (!j.contains("cloud") || !j["cloud"].is_string() || j["cloud"].get<std::string>().empty()) {
    return absl::InvalidArgumentError("\"cloud\" (HOST:PORT) is missing");
  }
  c.cloud = j["cloud"].get<std::string>();
  if (j.contains("model")) {
    if (!j["model"].is_string()) return absl::InvalidArgumentError("\"model\" must be a string");
    c.model = j["model"].get<std::string>();
  }
  if (j.contains("model_identity") && j["model_identity"].is_string()) {
    c.model_identity = j["model_identity"].get<std::string>();
  }
  return c;
}

absl::StatusOr<TunedConfig> ReadTunedConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the config file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 1 MiB"));
  }
  auto config = ParseTunedConfig(text.str());
  if (!config.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::Status WriteTunedConfig(const TunedConfig& config, const std::string& path) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << TunedConfigToJson(config);
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace tandem::tune
