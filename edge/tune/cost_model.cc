#include "edge/tune/cost_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/enum_names.h"
#include "edge/speculation_policy.h"

namespace tandem::tune {
namespace {

bool BadTime(double s) { return !std::isfinite(s) || s < 0; }

absl::Status ValidateSide(const SideProfile& side, int32_t n_layers, const char* name) {
  if (static_cast<int32_t>(side.layers.size()) != n_layers) {
    return absl::InvalidArgumentError(absl::StrFormat("%s profile has %d layers, the model %d",
                                                      name, side.layers.size(), n_layers));
  }
  if (side.first_layer < 0 || side.first_layer >= side.end_layer || side.end_layer > n_layers) {
    return absl::InvalidArgumentError(absl::StrFormat("%s profile range [%d, %d) is not in [0, %d)",
                                                      name, side.first_layer, side.end_layer,
                                                      n_layers));
  }
  if (side.prompt_chunk_positions < 1 || BadTime(side.fixed_decode_seconds)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " profile: bad prompt chunk size or fixed time"));
  }
  for (int32_t i = side.first_layer; i < side.end_layer; ++i) {
    const LayerCost& c = side.layers[i];
    if (BadTime(c.decode_seconds) || BadTime(c.prompt_chunk_seconds)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s profile: layer %d has a bad time", name, i));
    }
  }
  return absl::OkStatus();
}

// Layer time of [begin, end) on `side`: decode, or a prompt chunk of n positions (scaled
// linearly from the measured chunk size).
double DecodeSeconds(const SideProfile& side, int32_t begin, int32_t end) {
  double s = 0;
  for (int32_t i = begin; i < end; ++i) s += side.layers[i].decode_seconds;
  return s;
}

double ChunkSeconds(const SideProfile& side, int32_t begin, int32_t end, int32_t n) {
  double s = 0;
  for (int32_t i = begin; i < end; ++i) s += side.layers[i].prompt_chunk_seconds;
  return s * n / side.prompt_chunk_positions;
}

// Time to first token: session open (one round trip), then the prompt in chunks through a
// three-stage pipeline (device compute, uplink, worker compute), then head and reply.
double FirstTokenSeconds(const CostInputs& in, int32_t k, const CodecCost& codec) {
  const LinkEstimate& link = in.link;
  const double one_way = link.rtt_seconds / 2;
  const int32_t chunk = in.device.prompt_chunk_positions;
  double device_done = 0, link_done = 0, cloud_done = 0;
  for (int32_t start = 0; start < in.workload.prompt_tokens; start += chunk) {
    const int32_t n = std::min(chunk, in.workload.prompt_tokens - start);
    device_done += in.device.fixed_decode_seconds * n + ChunkSeconds(in.device, 0, k, n) +
                   codec.encode_seconds * n;
    link_done = std::max(device_done, link_done) +
                (codec.row_bytes * n + link.message_overhead_bytes) / link.uplink_bytes_per_second;
    cloud_done = std::max(link_done + one_way, cloud_done) + codec.decode_seconds * n +
                 ChunkSeconds(in.cloud, k, in.n_layers, n);
  }
  return link.rtt_seconds + cloud_done + in.cloud.fixed_decode_seconds + one_way +
         link.reply_bytes / link.downlink_bytes_per_second;
}

int64_t DeviceBytes(const CostInputs& in, int32_t k) {
  const MemoryModel& m = in.memory;
  int64_t bytes = m.embedding_bytes + m.fallback_bytes;
  for (int32_t i = 0; i < k; ++i) bytes += m.layer_bytes[i];
  bytes += m.kv_bytes_per_layer_position * k * in.workload.context_positions;
  bytes += m.scratch_bytes_per_position * in.device.prompt_chunk_positions;
  return bytes;
}

std::string MiB(int64_t bytes) { return absl::StrFormat("%.1f MiB", bytes / 1048576.0); }

}  // namespace

absl::Status ValidateCostInputs(const CostInputs& in) {
  if (in.n_layers < 2) return absl::InvalidArgumentError("the model needs at least two layers");
  if (auto st = ValidateSide(in.device, in.n_layers, "device"); !st.ok()) return st;
  if (auto st = ValidateSide(in.cloud, in.n_layers, "worker"); !st.ok()) return st;
  if (in.device.first_layer != 0) {
    return absl::InvalidArgumentError("the device profile must start at layer 0");
  }
  if (in.cloud.end_layer != in.n_layers) {
    return absl::InvalidArgumentError("the worker profile must end at the last layer");
  }
  if (in.codecs.empty()) return absl::InvalidArgumentError("no codec to consider");
  for (const CodecCost& c : in.codecs) {
    if (!(c.row_bytes > 0) || BadTime(c.encode_seconds) || BadTime(c.decode_seconds)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("codec %s: bad size or time", CodecKindName(c.kind)));
    }
  }
  const LinkEstimate& l = in.link;
  if (BadTime(l.rtt_seconds) || !(l.uplink_bytes_per_second > 0) ||
      !(l.downlink_bytes_per_second > 0) || !std::isfinite(l.uplink_bytes_per_second) ||
      !std::isfinite(l.downlink_bytes_per_second) || l.message_overhead_bytes < 0 ||
      l.reply_bytes < 0) {
    return absl::InvalidArgumentError("link: bad round-trip time or bandwidth");
  }
  const SpeculationModel& s = in.speculation;
  if (BadTime(s.draft_seconds_per_token) || !(s.acceptance >= 0 && s.acceptance <= 1) ||
      s.max_draft_tokens < 1 || s.max_draft_tokens > 64) {
    return absl::InvalidArgumentError(
        "speculation: bad draft time, acceptance outside [0, 1] or draft length outside [1, 64]");
  }
  if (static_cast<int32_t>(in.memory.layer_bytes.size()) != in.n_layers) {
    return absl::InvalidArgumentError("memory model: one size per layer needed");
  }
  if (in.workload.context_positions < 1 || in.workload.prompt_tokens < 1) {
    return absl::InvalidArgumentError("workload: context and prompt must be >= 1 position");
  }
  return absl::OkStatus();
}

Prediction Predict(const CostInputs& in, int32_t k, const CodecCost& codec) {
  const LinkEstimate& link = in.link;
  Prediction p{.split = k, .codec = codec.kind};
  p.device_seconds =
      in.device.fixed_decode_seconds + DecodeSeconds(in.device, 0, k) + codec.encode_seconds;
  p.up_bytes_per_token = codec.row_bytes + link.message_overhead_bytes;
  p.down_bytes_per_token = link.reply_bytes;
  p.link_seconds = link.rtt_seconds + p.up_bytes_per_token / link.uplink_bytes_per_second +
                   p.down_bytes_per_token / link.downlink_bytes_per_second;
  p.cloud_seconds = codec.decode_seconds + DecodeSeconds(in.cloud, k, in.n_layers) +
                    in.cloud.fixed_decode_seconds;
  p.per_token_seconds = p.device_seconds + p.link_seconds + p.cloud_seconds;
  p.speculative_token_seconds = p.per_token_seconds;
  const SpeculationModel& spec = in.speculation;
  if (spec.draft_seconds_per_token > 0) {
    // One more position on each side, at the prompt-chunk rate, and one more row up.
    const double extra = ChunkSeconds(in.device, 0, k, 1) +
                         ChunkSeconds(in.cloud, k, in.n_layers, 1) + codec.encode_seconds +
                         codec.decode_seconds + codec.row_bytes / link.uplink_bytes_per_second;
    const double a = std::clamp(spec.acceptance, 0.0, 0.999);
    for (int32_t g = 1; g <= spec.max_draft_tokens; ++g) {
      const double round = g * spec.draft_seconds_per_token + p.per_token_seconds + g * extra;
      const double tokens = edge::ExpectedTokensPerRound(a, g);
      if (round / tokens < p.speculative_token_seconds) {
        p.speculative_token_seconds = round / tokens;
        p.draft_tokens = g;
      }
    }
  }
  p.first_token_seconds = FirstTokenSeconds(in, k, codec);
  p.device_bytes = DeviceBytes(in, k);
  return p;
}

std::vector<Prediction> PredictAll(const CostInputs& in) {
  std::vector<Prediction> all;
  const int32_t first = std::max(1, in.cloud.first_layer);
  const int32_t last = std::min(in.n_layers - 1, in.device.end_layer);
  for (int32_t k = first; k <= last; ++k) {
    for (const CodecCost& codec : in.codecs) all.push_back(Predict(in, k, codec));
  }
  return all;
}

WorkerCalibration FitWorkerCalibration(const SideProfile& cloud, int32_t n_layers,
                                       const std::vector<WorkerStepSample>& samples) {
  std::vector<std::pair<double, double>> xy;  // (profiled, measured)
  for (const WorkerStepSample& s : samples) {
    xy.emplace_back(DecodeSeconds(cloud, s.split, n_layers) + cloud.fixed_decode_seconds,
                    s.cloud_seconds);
  }
  WorkerCalibration c;
  if (xy.empty()) return c;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [x, y] : xy) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  // The fallback: a pure scale (least squares through the origin).
  if (sxx > 0 && sxy > 0) c.scale = sxy / sxx;
  const double mx = sx / xy.size(), my = sy / xy.size();
  double cov = 0, var = 0;
  for (const auto& [x, y] : xy) {
    cov += (x - mx) * (y - my);
    var += (x - mx) * (x - mx);
  }
  if (var > 0 && cov > 0) {
    const double scale = cov / var, offset = my - scale * mx;
    if (offset >= 0) c = {.scale = scale, .offset_seconds = offset};
  }
  return c;
}

void ApplyWorkerCalibration(const WorkerCalibration& c, SideProfile& cloud) {
  for (LayerCost& l : cloud.layers) l.decode_seconds *= c.scale;
  cloud.fixed_decode_seconds = cloud.fixed_decode_seconds * c.scale + c.offset_seconds;
}

absl::StatusOr<Objective> ParseObjective(std::string_view name) {
  if (name == "latency") return Objective::kLatency;
  if (name == "edge-work") return Objective::kEdgeWork;
  if (name == "cloud-work") return Objective::kCloudWork;
  return absl::InvalidArgumentError(absl::StrCat("unknown objective \"", std::string(name),
                                                 "\" (use latency, edge-work or cloud-work)"));
}

std::string_view ObjectiveName(Objective objective) {
  static constexpr std::string_view kNames[] = {"latency", "edge-work", "cloud-work"};
  return EnumName(objective, kNames, "?");
}

bool FitsHardConstraints(const Prediction& p, const Constraints& c) {
  if (p.split < c.min_edge_layers) return false;
  return c.memory_budget_bytes == 0 || p.device_bytes <= c.memory_budget_bytes;
}

absl::StatusOr<Recommendation> Recommend(const std::vector<Prediction>& predictions,
                                         const Constraints& c) {
  if (predictions.empty()) {
    return absl::FailedPreconditionError(
        "no split point both sides can run (the device and the worker hold no common cut)");
  }
  std::vector<Prediction> fitting;
  for (const Prediction& p : predictions) {
    if (FitsHardConstraints(p, c)) fitting.push_back(p);
  }
  if (fitting.empty()) {
    int32_t max_k = 0;
    int64_t least_bytes = std::numeric_limits<int64_t>::max();
    for (const Prediction& p : predictions) {
      max_k = std::max(max_k, p.split);
      if (p.split >= c.min_edge_layers) least_bytes = std::min(least_bytes, p.device_bytes);
    }
    if (c.min_edge_layers > max_k) {
      return absl::FailedPreconditionError(
          absl::StrFormat("--min-edge-layers %d: the largest split point available is K = %d",
                          c.min_edge_layers, max_k));
    }
    return absl::FailedPreconditionError(absl::StrFormat(
        "memory budget %s: the smallest device footprint with at least %d layer(s) is %s",
        MiB(c.memory_budget_bytes), c.min_edge_layers, MiB(least_bytes)));
  }

  auto faster = [](const Prediction& a, const Prediction& b) {
    return a.per_token_seconds < b.per_token_seconds;
  };
  Recommendation r;
  std::vector<Prediction> candidates;
  for (const Prediction& p : fitting) {
    if (c.latency_target_seconds <= 0 || p.per_token_seconds <= c.latency_target_seconds) {
      candidates.push_back(p);
    }
  }
  if (candidates.empty()) {
    r.choice = *std::min_element(fitting.begin(), fitting.end(), faster);
    r.meets_latency_target = false;
    r.reason =
        absl::StrFormat("no split meets the latency target of %.1f ms; the fastest is %.1f ms",
                        c.latency_target_seconds * 1e3, r.choice.per_token_seconds * 1e3);
    return r;
  }

  switch (c.objective) {
    case Objective::kLatency: {
      const double best =
          std::min_element(candidates.begin(), candidates.end(), faster)->per_token_seconds;
      r.choice = *std::min_element(
          candidates.begin(), candidates.end(), [&](const Prediction& a, const Prediction& b) {
            const bool a_near = a.per_token_seconds <= best * (1 + c.latency_tolerance);
            const bool b_near = b.per_token_seconds <= best * (1 + c.latency_tolerance);
            if (a_near != b_near) return a_near;
            if (!a_near) return faster(a, b);
            if (a.device_bytes != b.device_bytes) return a.device_bytes < b.device_bytes;
            if (a.up_bytes_per_token != b.up_bytes_per_token) {
              return a.up_bytes_per_token < b.up_bytes_per_token;
            }
            return faster(a, b);
          });
      r.reason = absl::StrFormat(
          "lowest per-token latency (ties within %.0f%% go to less device "
          "memory)",
          c.latency_tolerance * 100);
      break;
    }
    case Objective::kEdgeWork:
    case Objective::kCloudWork: {
      const bool edge = c.objective == Objective::kEdgeWork;
      r.choice = *std::min_element(candidates.begin(), candidates.end(),
                                   [&](const Prediction& a, const Prediction& b) {
                                     if (a.split != b.split) {
                                       return edge ? a.split < b.split : a.split > b.split;
                                     }
                                     return faster(a, b);
                                   });
      r.reason = edge ? "fewest device layers" : "most device layers (least worker compute)";
      break;
    }
  }
  if (c.latency_target_seconds > 0) {
    absl::StrAppend(&r.reason, absl::StrFormat(" within the latency target of %.1f ms",
                                               c.latency_target_seconds * 1e3));
  }
  if (c.memory_budget_bytes > 0) {
    absl::StrAppend(&r.reason, ", memory budget ", MiB(c.memory_budget_bytes));
  }
  return r;
}

}  // namespace tandem::tune
