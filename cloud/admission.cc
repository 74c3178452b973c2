#include "cloud/admission.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/str_format.h"

namespace tandem::cloud {

absl::Status CheckDeadlineAdmission(const StepCostModel& cost,
                                    absl::Span<const absl::Duration> targets,
                                    absl::Duration new_target) {
  absl::Duration tightest = new_target;
  for (absl::Duration t : targets) tightest = std::min(tightest, t);
  if (tightest == absl::InfiniteDuration()) return absl::OkStatus();
  const int32_t rows = static_cast<int32_t>(targets.size()) + 1;
  const std::optional<absl::Duration> batch = cost.Predict(rows);
  if (!batch.has_value()) return absl::OkStatus();
  // Alone, a session's step never waits for another's batch.
  const absl::Duration worst = (rows > 1 ? 2 : 1) * *batch;
  if (worst <= BatchPairBudget(tightest)) return absl::OkStatus();
  return AdmissionRefusal(
      "deadline",
      absl::StrFormat("serving %d sessions would take up to %.1f ms per token (batches of %d "
                      "positions take %.1f ms here), above %.1f ms of the tightest per-token "
                      "target of %.1f ms (the rest is kept for the network); use another "
                      "worker or the device's model",
                      rows, absl::ToDoubleMilliseconds(worst), rows,
                      absl::ToDoubleMilliseconds(*batch),
                      absl::ToDoubleMilliseconds(BatchPairBudget(tightest)),
                      absl::ToDoubleMilliseconds(tightest)));
}

absl::Status AdmissionRefusal(absl::string_view reason, absl::string_view message) {
  absl::Status status = absl::ResourceExhaustedError(message);
  status.SetPayload(kAdmissionRefusalUrl, absl::Cord(reason));
  return status;
}

}  // namespace tandem::cloud
