#include "cloud/worker_config.h"

#include "absl/strings/str_cat.h"

namespace tandem::cloud {
namespace {

absl::Status CheckRange(const char* name, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " is ", value, ", must be in [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WorkerLimits::Validate() const {
  for (absl::Status st : {
           CheckRange("max sessions", max_sessions, 1, 1 << 16),
           CheckRange("max sessions per principal", max_sessions_per_principal, 0, 1 << 16),
           CheckRange("max context", max_context, 1, 1 << 24),
           CheckRange("max chunk positions", max_chunk_positions, 1, 1 << 20),
           CheckRange("max chunk bytes", max_chunk_bytes, 1, int64_t{1} << 30),
           CheckRange("KV-cache budget bytes", kv_budget_bytes, 1, int64_t{1} << 50),
           CheckRange("max top logprobs", max_top_logprobs, 0, 1024),
           CheckRange("max draft tokens", max_draft_tokens, 0, 256),
           CheckRange("max session id bytes", max_session_id_bytes, 1, 4096),
           CheckRange("max echo bytes", max_echo_bytes, 0, int64_t{1} << 30),
           CheckRange("max profile repetitions", max_profile_repetitions, 1, 10000),
           CheckRange("max batch positions", max_batch_positions, 1, 1 << 16),
       }) {
    if (!st.ok()) return st;
  }
  if (idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("idle timeout must be positive");
  }
  return absl::OkStatus();
}

absl::Status WorkerConfig::Validate() const {
  if (model_path.empty()) return absl::InvalidArgumentError("no model path given");
  if (threads < 1 || threads > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("threads is ", threads, ", must be >= 1"));
  }
  if (calibration_repetitions < 0 || calibration_repetitions > 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "calibration repetitions is ", calibration_repetitions, ", must be in [0, 100]"));
  }
  return limits.Validate();
}

}  // namespace tandem::cloud
