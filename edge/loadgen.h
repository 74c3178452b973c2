// tandem-loadgen: drives N concurrent sessions against one worker with valid edge
// traffic and measures what the worker delivers. The hidden states at the cut are
// computed once up front (embedding + layers [0, K) of a fixed token sequence), so the
// load generator's own compute does not share the CPU with the worker while it runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/codec/codec_kind.h"
#include "edge/cloud_link.h"
#include "edge/edge_model.h"

namespace tandem::edge {

struct LoadgenConfig {
  int32_t sessions = 1;
  int32_t prompt_tokens = 64;
  int32_t gen_tokens = 64;  // tokens per session: one after the prompt, then decode steps
  CodecKind codec = CodecKind::kQ8;
  absl::Duration token_deadline = absl::InfiniteDuration();  // declared in Hello
  absl::Duration step_timeout = absl::Seconds(60);
  uint64_t seed = 1;

  absl::Status Validate() const;
};

struct LoadgenResult {
  int32_t sessions = 0;  // asked for
  int32_t admitted = 0;
  int32_t refused = 0;  // RESOURCE_EXHAUSTED at Hello
  int32_t failed = 0;   // any other error
  int64_t tokens = 0;   // received by admitted sessions
  double seconds = 0;   // first Hello to last token
  double aggregate_tok_s = 0;
  double p50_step_ms = 0;  // decode steps: chunk sent -> token received
  double p99_step_ms = 0;
  int64_t deadline_misses = 0;  // decode steps slower than token_deadline
  std::string first_error;      // of the failed sessions, if any
  // The slowest decode steps (at most 5, slowest first): which session, its how-many-th
  // decode step, how long it took and when it started (ms after the load began), to tell
  // a burst's first steps from steady state.
  struct SlowStep {
    int32_t session = 0;
    int32_t step = 0;
    double ms = 0;
    double started_ms = 0;
  };
  std::vector<SlowStep> slowest;

  std::string ToJson() const;
};

// Runs the load: all sessions start together, each sends the prompt (in chunks the
// worker accepts, sampling after the last) and then gen_tokens - 1 decode steps.
absl::StatusOr<LoadgenResult> RunLoad(const EdgeModel& model, CloudLink& link,
                                      const LoadgenConfig& config);

}  // namespace tandem::edge
