// Deadline-aware admission: refuse a new session when serving it would make the sessions
// already served (or itself) miss their per-token latency targets, so that its edge
// falls back to its own model at once instead of getting slow tokens.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cloud/step_cost_model.h"

namespace tandem::cloud {

// Status payload type URL naming why a session was refused ("deadline", "sessions",
// "kv_budget"), for the refusal metric.
inline constexpr absl::string_view kAdmissionRefusalUrl = "tandem.dev/admission-refusal";

// With `targets` the per-token targets of the sessions decoding now (InfiniteDuration:
// none) and `new_target` the new session's: every session decodes one position per
// round, so with one more session a round is a batch of targets.size() + 1 positions. A
// step can arrive just after a batch started and then waits for it, so a token takes up
// to two batch times (one for a session alone); admitted if that is within
// BatchPairBudget of the tightest target. Admitted when no target is set or nothing has been
// measured yet (the worker measures at startup: step_cost_calibration.h).
absl::Status CheckDeadlineAdmission(const StepCostModel& cost,
                                    absl::Span<const absl::Duration> targets,
                                    absl::Duration new_target);

// A ResourceExhausted status carrying the refusal reason for metrics.
absl::Status AdmissionRefusal(absl::string_view reason, absl::string_view message);

}  // namespace tandem::cloud
