#include "cloud/health_probe.h"

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace tandem::cloud {
namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";

// HealthCheckRequest { string service = 1; }
std::string EncodeRequest(const std::string& service) {
  std::string out;
  if (service.empty()) return out;
  out.push_back(0x0a);  // field 1, length-delimited
  for (uint64_t n = service.size();; n >>= 7) {
    if (n < 0x80) {
      out.push_back(static_cast<char>(n));
      break;
    }
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
  }
  return out + service;
}

// Reads a varint at `pos`; false if truncated.
bool ReadVarint(std::string_view in, size_t& pos, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && pos < in.size(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in[pos++]);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// HealthCheckResponse { ServingStatus status = 1; } -> the status (0 if absent, as proto3
// omits the default UNKNOWN); -1 if malformed. Skips fields it does not know.
int64_t DecodeStatus(std::string_view in) {
  int64_t status = 0;
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t key = 0, value = 0;
    if (!ReadVarint(in, pos, key)) return -1;
    switch (key & 7) {
      case 0:  // varint
        if (!ReadVarint(in, pos, value)) return -1;
        if ((key >> 3) == 1) status = static_cast<int64_t>(value);
        break;
      case 1:  // 64-bit
        pos += 8;
        break;
      case 2:  // length-delimited
        if (!ReadVarint(in, pos, value) || value > in.size() - pos) return -1;
        pos += value;
        break;
      case 5:  // 32-bit
        pos += 4;
        break;
      default:
        return -1;
    }
  }
  return pos == in.size() ? status : -1;
}

std::string StatusName(int64_t status) {
  switch (status) {
    case 0:
      return "UNKNOWN";
    case 1:
      return "SERVING";
    case 2:
      return "NOT_SERVING";
    case 3:
      return "SERVICE_UNKNOWN";
    default:
      return absl::StrCat("status ", status);
  }
}

}  // namespace

absl::Status CheckGrpcHealth(const std::string& target, const std::string& service,
                             std::shared_ptr<grpc::ChannelCredentials> credentials,
                             absl::Duration timeout) {
  grpc::GenericStub stub(grpc::CreateChannel(target, std::move(credentials)));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  const std::string request_bytes = EncodeRequest(service);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);

  grpc::CompletionQueue queue;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      stub.PrepareUnaryCall(&context, kCheckMethod, request, &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status rpc_status;
  call->Finish(&response, &rpc_status, nullptr);
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);  // the only event: Finish (bounded by the deadline)
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (!rpc_status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(rpc_status.error_code()),
                        absl::StrCat(target, ": ", rpc_status.error_message()));
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("unreadable health response");
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  const int64_t status = DecodeStatus(bytes);
  if (status < 0) return absl::DataLossError(absl::StrCat(target, ": malformed health response"));
  if (status != 1) {
    return absl::UnavailableError(
        absl::StrCat(target, " reports ", StatusName(status), " for service \"", service, "\""));
  }
  return absl::OkStatus();
}

}  // namespace tandem::cloud
