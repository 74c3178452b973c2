// The worker's configuration: the model, compute threads and the limits on everything a
// remote peer controls. Built from flags in main.cc and validated before anything starts.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/util/mapped_file.h"

namespace tandem::cloud {

struct WorkerLimits {
  int32_t max_sessions = 64;  // sessions held at once (attached or resumable)
  // Sessions one principal (device) may hold at once; 0: max_sessions. Fair share between
  // devices: one device cannot take every slot.
  int32_t max_sessions_per_principal = 0;
  int32_t max_context = 4096;         // per-session KV cache positions (capped by the model)
  int32_t max_chunk_positions = 512;  // positions per HiddenChunk
  int64_t max_chunk_bytes = 1 << 20;  // encoded payload bytes per HiddenChunk
  // All sessions' memory together: KV caches, scratch, logits (session_memory.h).
  int64_t kv_budget_bytes = int64_t{1} << 30;
  absl::Duration idle_timeout = absl::Minutes(5);  // detached sessions are kept this long
  int32_t max_top_logprobs = 20;                   // alternatives per Token
  // Draft tokens verified per chunk (speculative decoding); 0 turns verification off.
  int32_t max_draft_tokens = 16;
  int32_t max_session_id_bytes = 128;
  int64_t max_echo_bytes = 1 << 20;  // Echo payload, each way
  int32_t max_profile_repetitions = 100;
  int32_t max_batch_positions = 64;  // positions per scheduler batch (prompt slices fit)

  // InvalidArgument naming the first limit out of range.
  absl::Status Validate() const;
};

struct WorkerConfig {
  std::string model_path;
  LoadMode load_mode = LoadMode::kMmap;  // kHugePageCopy: faster decode, private memory
  int32_t threads = 2;                   // compute threads of the worker's one pool (>= 1)
  WorkerLimits limits;
  // Measured batch step costs at startup (step_cost_calibration.h): each batch size this
  // many times; 0: none (admission then trusts the first sessions blindly).
  int32_t calibration_repetitions = 2;
  // How long a batch may wait for the sessions the last batch answered (StepScheduler).
  absl::Duration batch_gather = absl::Milliseconds(2);

  absl::Status Validate() const;
};

}  // namespace tandem::cloud
