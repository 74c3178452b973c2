// Who may run Profile, and how often. A profile runs every layer of the model on
// synthetic data, many times: far more compute than a token, so it is for operators
// (tandem-tune), not for every device the worker accepts.
// - Admin-only: the caller's principal must be listed (--admin-principal). A worker that
//   authenticates nobody (loopback development) lets anyone profile.
// - Rate-limited: a token bucket (burst, then one profile per refill period), worker-wide.
#pragma once

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tandem::cloud {

struct ProfilePolicy {
  std::vector<std::string> admin_principals;
  bool open = false;  // anyone may profile (set when the worker authenticates nobody)
  int32_t burst = 8;
  absl::Duration refill = absl::Seconds(5);
};

class ProfileGate {
 public:
  explicit ProfileGate(ProfilePolicy policy) : policy_(std::move(policy)) {}

  // OK (and one profile taken from the bucket), PermissionDenied (not an admin) or
  // ResourceExhausted (too many profiles lately).
  absl::Status Admit(const std::string& principal, absl::Time now);

 private:
  const ProfilePolicy policy_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_) = -1;  // < 0: full (first use)
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::cloud
