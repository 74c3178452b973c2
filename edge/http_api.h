// The local API for apps, OpenAI-compatible (cpp-httplib), on loopback by default:
//   POST /v1/completions        {"prompt", "max_tokens" (default 16), "temperature",
//                                "top_p", "seed", "stop", "stream", "logprobs" (0..5), ...}
//   POST /v1/chat/completions   {"messages", ..., "logprobs": true, "top_logprobs" (0..20)};
//                               prompt in the model's chat format
//                               (common/tokenizer/chat_template.h)
// Logprobs come from whichever model produced each token (the worker or the fallback) in
// OpenAI's shapes (openai_response.h), streamed with each chunk's tokens.
//   GET  /v1/models             the one model this daemon serves
//   GET  /health                200 "ok" if any cloud worker answers a probe (the body names
//                               it); 200 "degraded" if none does but a fallback model can
//                               serve; else 503
// Access: see request_guard.h (Host, Origin, optional API key). A generation stops when
// its client disconnects. Streaming responses are server-sent events ("data: {...}\n\n" ... "data:
// [DONE]\n\n"). Errors are OpenAI error objects: 400 bad request, 413 body too large, 429 all
// generation slots busy, 503/504 cloud unreachable/too slow, 500 otherwise. An error after
// streaming started is sent as a last event {"error": {...}} without [DONE].
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/util/clock.h"
#include "edge/cloud_link.h"
#include "edge/edge_metrics.h"
#include "edge/edge_model.h"
#include "edge/generation_pool.h"
#include "edge/request_guard.h"

namespace httplib {
class Server;
class DataSink;
struct Request;
struct Response;
}  // namespace httplib

namespace tandem::edge {

struct ApiOptions {
  int32_t default_max_tokens = 16;  // /v1/completions without max_tokens (as OpenAI)
  // /v1/chat/completions without max_tokens: OpenAI runs to the context end, which lets
  // one request hold a generation slot for minutes; bounded here.
  int32_t default_chat_max_tokens = 512;
  int64_t max_body_bytes = 1 << 20;
  // Connections served at once. Generations are bounded separately (GenerationPool), so
  // these threads only read requests and write answers: many, so that slow or idle
  // clients (each holds one until the read timeout) cannot starve the others.
  int32_t http_threads = 64;
  // A connection that sends nothing for this long while a request is read is closed
  // (slowloris); an idle keep-alive connection is closed after keep_alive_timeout.
  absl::Duration read_timeout = absl::Seconds(5);
  absl::Duration keep_alive_timeout = absl::Seconds(2);
  AccessPolicy access;  // Host, Origin and API key checks (request_guard.h)
  absl::Duration queue_timeout = absl::Seconds(30);  // wait for a generation slot
  absl::Duration probe_timeout = absl::Seconds(2);   // /health's probe of one worker
  // A fallback model serves while the cloud is away: /health then says "degraded" (200).
  bool fallback_available = false;

  absl::Status Validate() const;
};

class HttpApi {
 public:
  // Everything passed in must outlive the API; `workers` are the generations' endpoints
  // (/health probes them in order until one serves).
  HttpApi(const EdgeModel& model, GenerationPool& pool, std::vector<CloudEndpoint> workers,
          const Clock& clock, EdgeMetrics& metrics, const ApiOptions& options);
  ~HttpApi();  // Stop()

  // Binds host:port (port 0: any free port) and serves on a background thread. Returns
  // the bound port; Unavailable if the address cannot be bound.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops accepting, ends running generations at their next token, waits for the
  // serving thread. Idempotent.
  void Stop();

 private:
  struct Prepared;
  struct StreamJob;

  void HandleCompletion(bool chat, const httplib::Request& req, httplib::Response& res);
  void HandleHealth(httplib::Response& res);
  void RunStream(StreamJob& job, httplib::DataSink& sink);
  absl::StatusOr<Prepared> Prepare(bool chat, const std::string& body) const;
  // Host/Origin/key checks and CORS headers; true if the request was answered here.
  bool Guard(const httplib::Request& req, httplib::Response& res) const;

  const EdgeModel& model_;
  GenerationPool& pool_;
  const std::vector<CloudEndpoint> workers_;
  const Clock& clock_;
  EdgeMetrics& metrics_;
  const ApiOptions options_;
  const RequestGuard guard_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace tandem::edge
