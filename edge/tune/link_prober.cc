#include "edge/tune/link_prober.h"

#include <algorithm>

#include "common/util/stats.h"
#include "common/util/status_macros.h"

namespace tandem::tune {
namespace {

constexpr double kMaxBandwidth = 1e11;  // bytes/s; "too fast to matter"

// Echo samples for each size, one direction, until a size gets slower than max_echo.
absl::StatusOr<std::vector<LinkSample>> Sweep(WorkerProbe& probe, const LinkProbeOptions& o,
                                              bool up) {
  std::vector<LinkSample> samples;
  for (int64_t bytes : o.sizes) {
    std::vector<double> seconds;
    for (int32_t i = 0; i < o.rounds; ++i) {
      ASSIGN_OR_RETURN(EchoTiming t, probe.Echo(up ? bytes : 0, up ? 0 : bytes, o.timeout));
      seconds.push_back(std::max(0.0, t.round_trip_seconds - t.server_seconds));
    }
    samples.push_back({.bytes = bytes, .seconds = Median(seconds)});
    if (samples.back().seconds > absl::ToDoubleSeconds(o.max_echo)) break;
  }
  return samples;
}

}  // namespace

double FitBandwidth(const std::vector<LinkSample>& samples) {
  if (samples.size() < 2) return kMaxBandwidth;
  double mean_b = 0, mean_t = 0;
  for (const LinkSample& s : samples) {
    mean_b += static_cast<double>(s.bytes);
    mean_t += s.seconds;
  }
  mean_b /= samples.size();
  mean_t /= samples.size();
  double cov = 0, var = 0;
  for (const LinkSample& s : samples) {
    const double db = static_cast<double>(s.bytes) - mean_b;
    cov += db * (s.seconds - mean_t);
    var += db * db;
  }
  if (var <= 0 || cov <= 0) return kMaxBandwidth;
  return std::min(kMaxBandwidth, var / cov);
}

absl::StatusOr<LinkMeasurement> ProbeLink(WorkerProbe& probe, const LinkProbeOptions& o) {
  if (o.rounds < 1 || o.sizes.empty() || o.sizes.front() != 0 ||
      !std::is_sorted(o.sizes.begin(), o.sizes.end())) {
    return absl::InvalidArgumentError(
        "link probe: rounds >= 1 and ascending payload sizes starting at 0 are needed");
  }
  // Warm up: connection, TLS handshake, HTTP/2 windows.
  for (int i = 0; i < 3; ++i) RETURN_IF_ERROR(probe.Echo(65536, 65536, o.timeout).status());
  LinkMeasurement m;
  ASSIGN_OR_RETURN(m.uplink, Sweep(probe, o, /*up=*/true));
  ASSIGN_OR_RETURN(m.downlink, Sweep(probe, o, /*up=*/false));
  m.estimate.rtt_seconds = std::min(m.uplink.front().seconds, m.downlink.front().seconds);
  m.estimate.uplink_bytes_per_second = FitBandwidth(m.uplink);
  m.estimate.downlink_bytes_per_second = FitBandwidth(m.downlink);
  return m;
}

}  // namespace tandem::tune
