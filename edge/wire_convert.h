// Translation between the edge's link types (cloud_link.h) and the wire contract
// (proto/tandem/v1/tandem.proto); the parts the worker and the tuner share are in
// proto/wire.h. Nothing else: no I/O, no policy.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "edge/cloud_link.h"
#include "grpcpp/support/status.h"
#include "tandem/v1/tandem.pb.h"

namespace tandem::edge {

void HelloToProto(const SessionHello& hello, ::tandem::v1::Hello* out);
// Also fills payload_crc32c.
void ChunkToProto(const HiddenChunk& chunk, ::tandem::v1::HiddenChunk* out);
// Codecs this build does not know are left out of `codecs`.
SessionReady ReadyFromProto(const ::tandem::v1::Ready& ready);
SampledToken TokenFromProto(const ::tandem::v1::Token& token);

// Same code (gRPC and Abseil share the numbering), message prefixed with "cloud: ".
absl::Status StatusFromGrpc(const grpc::Status& status);

}  // namespace tandem::edge
