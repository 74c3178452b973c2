// libFuzzer target: the worker's handling of arbitrary EdgeMessage sequences, through the
// same translation (proto_convert) and core calls (Worker::Open/Step/Truncate/Close/
// Detach) as the gRPC service. Input: records of [1 byte flags][2 bytes length][length
// bytes of a serialized EdgeMessage]. Flag bit 0 fills a Hello's identity fields with
// the served model's (else the fuzzer could never get past validation), bit 1 sets a
// chunk's checksum to the right CRC32C of its payload. Any error is fine; a crash, a
// sanitizer report or a hang is not.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "cloud/messages.h"
#include "cloud/proto_convert.h"
#include "cloud/worker.h"
#include "common/codec/crc32c.h"
#include "common/util/clock.h"
#include "tandem/v1/tandem.pb.h"

namespace {

tandem::SystemClock clock_;

tandem::cloud::Worker& FreshWorker(std::unique_ptr<tandem::cloud::Worker>& holder) {
  tandem::cloud::WorkerLimits limits;
  limits.max_sessions = 4;
  limits.max_context = 128;
  limits.max_chunk_positions = 64;
  limits.kv_budget_bytes = 64 << 20;
  auto worker = tandem::cloud::Worker::Create(
      {.model_path = TANDEM_FUZZ_MODEL, .threads = 1, .limits = limits}, clock_);
  if (!worker.ok()) std::abort();
  holder = *std::move(worker);
  return *holder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem::cloud;
  std::unique_ptr<Worker> holder;
  Worker& worker = FreshWorker(holder);
  std::optional<Attachment> attached;
  size_t at = 0;
  for (int records = 0; records < 32 && at + 3 <= size; ++records) {
    const uint8_t flags = data[at];
    const size_t length = data[at + 1] | (size_t{data[at + 2]} << 8);
    at += 3;
    if (length > size - at) break;
    tandem::v1::EdgeMessage message;
    const bool parsed = message.ParseFromArray(data + at, static_cast<int>(length));
    at += length;
    if (!parsed) continue;
    switch (message.kind_case()) {
      case tandem::v1::EdgeMessage::kHello: {
        tandem::v1::Hello* hello = message.mutable_hello();
        if (flags & 1) {
          const tandem::LlamaModel& model = worker.model();
          hello->set_protocol_version(tandem::wire::kMaxProtocolVersion);
          hello->set_model_id(model.identity());
          hello->set_n_layers(model.hparams().n_layers);
          hello->set_hidden_dim(model.hparams().dim);
        }
        auto request = OpenRequestFromProto(*hello);
        if (!request.ok()) break;
        request->principal = (flags & 4) ? "other" : "fuzzer";
        auto opened = worker.Open(*request);
        if (opened.ok()) attached = opened->attachment;
        break;
      }
      case tandem::v1::EdgeMessage::kChunk: {
        if (!attached) break;
        tandem::v1::HiddenChunk* chunk = message.mutable_chunk();
        if (flags & 2) chunk->set_payload_crc32c(tandem::Crc32c(chunk->payload()));
        auto request = ChunkRequestFromProto(*chunk);
        if (request.ok()) (void)worker.Step(*attached, *request);
        break;
      }
      case tandem::v1::EdgeMessage::kTruncate:
        if (attached) (void)worker.Truncate(*attached, message.truncate().position());
        break;
      case tandem::v1::EdgeMessage::kClose:
        if (attached) (void)worker.Close(*attached);
        attached.reset();
        break;
      default:
        break;
    }
  }
  if (attached) worker.Detach(*attached);
  return 0;
}
