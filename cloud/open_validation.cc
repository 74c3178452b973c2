#include "cloud/open_validation.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "common/codec/hidden_codec.h"
#include "common/util/status_macros.h"

namespace tandem::cloud {
namespace {

absl::Status ValidateSessionId(std::string_view id, const WorkerLimits& limits) {
  if (id.empty()) return absl::InvalidArgumentError("Hello.session_id is empty");
  if (static_cast<int64_t>(id.size()) > limits.max_session_id_bytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Hello.session_id has %d bytes, at most %d allowed", id.size(),
                        limits.max_session_id_bytes));
  }
  // Printable ASCII only: ids end up in log lines and error messages.
  for (char c : id) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("Hello.session_id must be printable ASCII without spaces");
    }
  }
  return absl::OkStatus();
}

}  // namespace

int32_t MaxSessionContext(const LlamaModel& model, const WorkerLimits& limits) {
  return std::min(limits.max_context, model.hparams().context_length);
}

absl::StatusOr<OpenGrant> ValidateOpenRequest(const OpenRequest& request, const LlamaModel& model,
                                              const WorkerLimits& limits) {
  const LlamaHparams& hp = model.hparams();
  if (request.protocol_version < wire::kMinProtocolVersion ||
      request.protocol_version > wire::kMaxProtocolVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "protocol version %d is not supported; this worker speaks %d to %d",
        request.protocol_version, wire::kMinProtocolVersion, wire::kMaxProtocolVersion));
  }
  if (request.model_id != model.identity()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("model mismatch: the edge runs \"%s\" but this worker serves \"%s\"",
                        request.model_id, model.identity()));
  }
  if (request.n_layers != hp.n_layers || request.hidden_dim != hp.dim) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "shape mismatch: the edge has %d layers of width %d, this worker's model %d of width %d",
        request.n_layers, request.hidden_dim, hp.n_layers, hp.dim));
  }
  const int32_t first = std::max(1, model.layer_begin());
  if (request.split_layer < first || request.split_layer >= hp.n_layers) {
    return absl::FailedPreconditionError(
        absl::StrFormat("split layer %d is not served; this worker serves K in [%d, %d]",
                        request.split_layer, first, hp.n_layers - 1));
  }
  RETURN_IF_ERROR(ValidateSessionId(request.session_id, limits));
  RETURN_IF_ERROR(ValidateCodecDim(request.codec, hp.dim));
  RETURN_IF_ERROR(request.sampling.Validate());
  if (request.resume_position < 0 || request.max_context < 0 || request.top_logprobs < 0) {
    return absl::InvalidArgumentError(
        "Hello.resume_position, max_context and top_logprobs must not be negative");
  }

  OpenGrant grant;
  const int32_t max_context = MaxSessionContext(model, limits);
  grant.max_context = request.max_context == 0 ? max_context : request.max_context;
  if (grant.max_context > max_context) {
    grant.notices.push_back(absl::OutOfRangeError(
        absl::StrFormat("max_context %d clamped to this worker's limit of %d positions",
                        grant.max_context, max_context)));
    grant.max_context = max_context;
  }
  grant.top_logprobs = request.top_logprobs;
  if (grant.top_logprobs > limits.max_top_logprobs) {
    grant.notices.push_back(absl::OutOfRangeError(
        absl::StrFormat("top_logprobs %d clamped to this worker's limit of %d", grant.top_logprobs,
                        limits.max_top_logprobs)));
    grant.top_logprobs = limits.max_top_logprobs;
  }
  return grant;
}

}  // namespace tandem::cloud
