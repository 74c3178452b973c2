// Measures the link to a worker with Echo calls: the round-trip time (empty payloads) and
// the throughput each way (payloads from a few hundred bytes, the size of one encoded
// hidden row, up to chunk sizes), as a line t(bytes) = rtt + bytes / bandwidth fitted to
// the medians. The worker's own time is subtracted from every sample.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "edge/tune/cost_model.h"
#include "edge/tune/worker_probe.h"

namespace tandem::tune {

struct LinkProbeOptions {
  int32_t rounds = 15;  // echoes per payload size; the median is kept
  // Payload sizes tried each way, ascending; add the codecs' row and chunk sizes.
  std::vector<int64_t> sizes = {0, 256, 2048, 8192, 32768, 131072, 524288, 1048576};
  // Larger payloads are skipped once one size takes longer than this (slow links).
  absl::Duration max_echo = absl::Milliseconds(300);
  absl::Duration timeout = absl::Seconds(20);  // per echo
};

struct LinkSample {
  int64_t bytes = 0;
  double seconds = 0;  // median round trip, less the worker's time
};

struct LinkMeasurement {
  LinkEstimate estimate;
  std::vector<LinkSample> uplink;    // payload sent, nothing back
  std::vector<LinkSample> downlink;  // nothing sent, payload back
};

// The link's errors (Unavailable, DeadlineExceeded, ...) end the probe; InvalidArgument
// for bad options.
absl::StatusOr<LinkMeasurement> ProbeLink(WorkerProbe& probe, const LinkProbeOptions& options);

// Bytes per second of the least-squares line through `samples` (seconds against bytes);
// capped at 1e11 (a flat or noisy line on loopback). Needs two sizes or more.
double FitBandwidth(const std::vector<LinkSample>& samples);

}  // namespace tandem::tune
