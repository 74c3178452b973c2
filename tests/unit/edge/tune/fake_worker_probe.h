// A WorkerProbe for tests: fixed worker info, per-layer timings, and echoes timed as
// rtt + bytes / bandwidth (no sockets, no clocks).
#pragma once

#include <vector>

#include "edge/tune/worker_probe.h"

namespace tandem::tune {

class FakeWorkerProbe final : public WorkerProbe {
 public:
  WorkerInfo info;
  double layer_decode_seconds = 1e-3;
  double layer_chunk_seconds = 4e-3;
  double head_seconds = 0.5e-3;
  double rtt_seconds = 2e-3;
  double bytes_per_second = 1e8;
  double server_seconds = 1e-4;              // reported and added to each echo, to be subtracted
  absl::Status fail;                         // returned by every call when not OK
  std::vector<WorkerProfileQuery> profiles;  // requests seen
  int echoes = 0;

  absl::StatusOr<WorkerInfo> Info(absl::Duration) override {
    if (!fail.ok()) return fail;
    return info;
  }
  absl::StatusOr<WorkerTimings> Profile(const WorkerProfileQuery& q, absl::Duration) override {
    if (!fail.ok()) return fail;
    profiles.push_back(q);
    WorkerTimings t{.first_layer = q.first_layer,
                    .prompt_chunk_positions = q.prompt_chunk_positions,
                    .head_decode_seconds = head_seconds,
                    .threads = 2};
    for (int32_t l = q.first_layer; l < info.n_layers; ++l) {
      t.layers.push_back({layer_decode_seconds, layer_chunk_seconds});
    }
    return t;
  }
  absl::StatusOr<EchoTiming> Echo(int64_t up, int64_t down, absl::Duration) override {
    if (!fail.ok()) return fail;
    ++echoes;
    return EchoTiming{
        .round_trip_seconds = rtt_seconds + (up + down) / bytes_per_second + server_seconds,
        .server_seconds = server_seconds};
  }
};

}  // namespace tandem::tune
