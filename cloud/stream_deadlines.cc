#include "cloud/stream_deadlines.h"

#include "absl/status/status.h"

namespace tandem::cloud {

absl::Status StreamDeadlines::Validate() const {
  if (hello_timeout <= absl::ZeroDuration() || idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("hello and stream idle timeouts must be positive");
  }
  return absl::OkStatus();
}

StreamVerdict JudgeStream(const StreamState& state, absl::Time now,
                          const StreamDeadlines& deadlines) {
  if (!state.idle) return StreamVerdict::kKeep;
  const absl::Duration waited = now - state.idle_since;
  if (!state.hello_done) {
    return waited >= deadlines.hello_timeout ? StreamVerdict::kNoHello : StreamVerdict::kKeep;
  }
  return waited >= deadlines.idle_timeout ? StreamVerdict::kSilent : StreamVerdict::kKeep;
}

}  // namespace tandem::cloud
