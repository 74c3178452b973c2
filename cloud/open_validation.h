// Checks a Hello against the worker's model and limits before any state is touched, and
// works out what the session is granted (parameters beyond a limit are clamped, with a
// notice for the edge, rather than refused).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "cloud/messages.h"
#include "cloud/worker_config.h"
#include "common/model/llama_model.h"

namespace tandem::cloud {

struct OpenGrant {
  int32_t max_context = 0;            // KV-cache positions for a new session
  int32_t top_logprobs = 0;           // alternatives per Token
  std::vector<absl::Status> notices;  // one per clamped parameter
};

// The largest context a session can get: the limit, capped by the model's context length.
int32_t MaxSessionContext(const LlamaModel& model, const WorkerLimits& limits);

// FailedPrecondition for a protocol version, model identity, layer count, hidden width or
// split layer this worker does not serve; InvalidArgument for malformed fields (session
// id, negative sizes, sampling parameters, a codec that cannot carry this model's rows).
absl::StatusOr<OpenGrant> ValidateOpenRequest(const OpenRequest& request, const LlamaModel& model,
                                              const WorkerLimits& limits);

}  // namespace tandem::cloud
