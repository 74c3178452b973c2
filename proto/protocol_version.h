// The wire contract's version (Hello.protocol_version, HealthResponse.{min,max}_protocol_version),
// one definition for the edge, the worker and the tuner. Free of gRPC and protobuf, so the
// worker's core can check it.
#pragma once

#include <cstdint>

namespace tandem::wire {

// What the edge sends in Hello.
inline constexpr uint32_t kProtocolVersion = 1;
// What a worker accepts.
inline constexpr uint32_t kMinProtocolVersion = 1;
inline constexpr uint32_t kMaxProtocolVersion = 1;

}  // namespace tandem::wire
