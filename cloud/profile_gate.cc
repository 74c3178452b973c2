#include "cloud/profile_gate.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace tandem::cloud {

absl::Status ProfileGate::Admit(const std::string& principal, absl::Time now) {
  if (!policy_.open && std::find(policy_.admin_principals.begin(), policy_.admin_principals.end(),
                                 principal) == policy_.admin_principals.end()) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "Profile is for operators: principal \"%s\" is not an --admin-principal", principal));
  }
  absl::MutexLock lock(&mu_);
  if (tokens_ < 0) {
    tokens_ = policy_.burst;
  } else {
    tokens_ = std::min<double>(policy_.burst, tokens_ + (now - last_) / policy_.refill);
  }
  last_ = now;
  if (tokens_ < 1) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("too many profiles: at most %d at once, then one per %s", policy_.burst,
                        absl::FormatDuration(policy_.refill)));
  }
  tokens_ -= 1;
  return absl::OkStatus();
}

}  // namespace tandem::cloud
