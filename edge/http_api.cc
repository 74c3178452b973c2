#include "edge/http_api.h"

#include <chrono>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "common/util/status_macros.h"
#include "edge/completion_logprobs.h"
#include "edge/completion_text.h"
#include "edge/json_body.h"
#include "edge/openai_request.h"
#include "edge/openai_response.h"
#include "edge/peer_socket.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace tandem::edge {
namespace {

constexpr char kJson[] = "application/json";
constexpr std::string_view kEndpoints[] = {"/v1/completions", "/v1/chat/completions", "/v1/models",
                                           "/health"};

// Bounded label values for the request counter.
std::string_view EndpointLabel(const std::string& path) {
  for (std::string_view e : kEndpoints) {
    if (path == e) return e;
  }
  return "other";
}

std::vector<ModeSpan> ModeSpans(const GenerationResult& result) {
  std::vector<ModeSpan> spans;
  for (const ModeRun& run : result.modes) {
    spans.push_back({.mode = GenerationModeName(run.mode), .tokens = run.tokens});
  }
  return spans;
}

void SendError(httplib::Response& res, const absl::Status& status) {
  res.status = HttpStatusFor(status);
  res.set_content(ErrorJson(status), kJson);
}

// A generated token's logprobs by text (ids become their pieces).
LogprobEntry ToLogprobEntry(const GeneratedToken& t, const Tokenizer& tokenizer) {
  LogprobEntry e{.bytes = std::string(t.piece), .logprob = t.logprobs->logprob};
  e.top.reserve(t.logprobs->top.size());
  for (const TokenLogprob& alt : t.logprobs->top) {
    e.top.push_back({.bytes = tokenizer.TokenToPiece(alt.token), .logprob = alt.logprob});
  }
  return e;
}

// The entries for a chunk: null (JSON "logprobs": null) without logprobs or without
// entries.
const std::vector<LogprobEntry>* ChunkLogprobs(bool asked, const std::vector<LogprobEntry>& e) {
  return asked && !e.empty() ? &e : nullptr;
}

}  // namespace

absl::Status ApiOptions::Validate() const {
  if (default_max_tokens < 0) return absl::InvalidArgumentError("default max_tokens < 0");
  if (max_body_bytes < 1024) return absl::InvalidArgumentError("body limit must be >= 1 KiB");
  if (http_threads < 1 || http_threads > 1024) {
    return absl::InvalidArgumentError("HTTP threads must be in [1, 1024]");
  }
  if (default_chat_max_tokens < 0) {
    return absl::InvalidArgumentError("default chat max_tokens < 0");
  }
  if (queue_timeout < absl::ZeroDuration() || probe_timeout <= absl::ZeroDuration() ||
      read_timeout <= absl::ZeroDuration() || keep_alive_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("API timeouts must be positive");
  }
  return access.Validate();
}

// A validated request, ready to generate.
struct HttpApi::Prepared {
  bool chat = false;
  GenerationRequest generation;
  std::vector<std::string> stops;
  bool strip_leading_space = false;  // the chat format puts a separator space before replies
  bool stream = false;
  bool include_usage = false;
  bool report_modes = false;
};

struct HttpApi::StreamJob {
  int peer_fd = -1;  // the client's socket (peer_socket.h), -1 if not found
  GenerationPool::Lease lease;
  Prepared request;
  CompletionMeta meta;
};

HttpApi::HttpApi(const EdgeModel& model, GenerationPool& pool, std::vector<CloudEndpoint> workers,
                 const Clock& clock, EdgeMetrics& metrics, const ApiOptions& options)
    : model_(model),
      pool_(pool),
      workers_(std::move(workers)),
      clock_(clock),
      metrics_(metrics),
      options_(options),
      guard_(options.access),
      server_(std::make_unique<httplib::Server>()) {}

HttpApi::~HttpApi() { Stop(); }

absl::StatusOr<int> HttpApi::Start(const std::string& host, int port) {
  RETURN_IF_ERROR(options_.Validate());
  httplib::Server& s = *server_;
  const size_t threads = static_cast<size_t>(options_.http_threads);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
  s.set_read_timeout(std::chrono::microseconds(absl::ToInt64Microseconds(options_.read_timeout)));
  s.set_keep_alive_timeout(std::max<time_t>(1, absl::ToInt64Seconds(options_.keep_alive_timeout)));
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return Guard(req, res) ? httplib::Server::HandlerResponse::Handled
                           : httplib::Server::HandlerResponse::Unhandled;
  });
  s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleCompletion(/*chat=*/false, req, res);
  });
  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleCompletion(/*chat=*/true, req, res);
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(ModelsJson(model_.name(), absl::ToUnixSeconds(clock_.Now())), kJson);
  });
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) { HandleHealth(res); });
  // Statuses httplib sets by itself (404, 413, ...) get an OpenAI error body too.
  s.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const std::string message =
            res.status == 404   ? absl::StrFormat("no route for %s %s", req.method, req.path)
            : res.status == 413 ? std::string("request body too large")
                                : absl::StrFormat("HTTP %d", res.status);
        res.set_content(HttpErrorJson(res.status, message), kJson);
        return httplib::Server::HandlerResponse::Handled;
      }));
  // Counted before the response is written (a logger runs after), so a client that has
  // its answer also sees it counted.
  s.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    metrics_.AddRequest(EndpointLabel(req.path), res.status);
  });

  int bound = port;
  if (port == 0) {
    bound = s.bind_to_any_port(host);
  } else if (!s.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrFormat("cannot listen on %s:%d", host, port));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() is a no-op until the server runs, so a Stop() right after Start()
  // would leave the thread in accept() forever: return only once it runs.
  while (!s.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return bound;
}

void HttpApi::Stop() {
  stopping_ = true;
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<HttpApi::Prepared> HttpApi::Prepare(bool chat, const std::string& body) const {
  Prepared p{.chat = chat};
  CompletionOptions options;
  if (chat) {
    ASSIGN_OR_RETURN(ChatRequest request, ParseChatRequest(body));
    // The model's own chat format; message text never becomes control tokens.
    const ChatTemplate& chat_template = model_.chat_template();
    p.generation.prompt_tokens = chat_template.Tokenize(request.messages, model_.tokenizer());
    p.strip_leading_space = chat_template.strip_leading_space();
    options = std::move(request.options);
    for (const std::string& stop : chat_template.stop_strings()) options.stop.push_back(stop);
  } else {
    ASSIGN_OR_RETURN(CompletionRequest request, ParseCompletionRequest(body));
    p.generation.prompt = std::move(request.prompt);
    options = std::move(request.options);
  }
  p.generation.max_tokens = options.max_tokens.value_or(chat ? options_.default_chat_max_tokens
                                                             : options_.default_max_tokens);
  thread_local absl::BitGen gen;
  p.generation.sampling = SamplingParams{
      .temperature = options.temperature,
      .top_k = 0,  // OpenAI has no top-k
      .top_p = options.top_p,
      .seed = options.seed.has_value() ? *options.seed : absl::Uniform<uint64_t>(gen)};
  p.stops = std::move(options.stop);
  p.stream = options.stream;
  p.include_usage = options.include_usage;
  p.report_modes = options.report_modes;
  p.generation.top_logprobs = options.top_logprobs;
  return p;
}

void HttpApi::HandleCompletion(bool chat, const httplib::Request& req, httplib::Response& res) {
  absl::StatusOr<Prepared> prepared = Prepare(chat, req.body);
  if (!prepared.ok()) return SendError(res, prepared.status());
  if (stopping_) return SendError(res, absl::UnavailableError("the server is shutting down"));
  absl::StatusOr<GenerationPool::Lease> lease =
      pool_.Acquire(clock_.Now() + options_.queue_timeout);
  if (!lease.ok()) return SendError(res, lease.status());

  thread_local absl::BitGen gen;
  CompletionMeta meta{
      .id = absl::StrFormat("%s-%016x%08x", chat ? "chatcmpl" : "cmpl",
                            absl::Uniform<uint64_t>(gen), absl::Uniform<uint32_t>(gen)),
      .created = absl::ToUnixSeconds(clock_.Now()),
      .model = model_.name(),
      .chat = chat};
  // Generating for a client that left only keeps a slot from the others.
  const int peer_fd = FindPeerSocket(req.local_port, req.remote_addr, req.remote_port);
  if (prepared->stream) {
    auto job = std::make_shared<StreamJob>(
        StreamJob{peer_fd, std::move(*lease), std::move(*prepared), std::move(meta)});
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream",
                                     [this, job](size_t /*offset*/, httplib::DataSink& sink) {
                                       RunStream(*job, sink);
                                       return true;
                                     });
    return;
  }

  CompletionText text(prepared->stops, prepared->strip_leading_space);
  const bool logprobs_asked = prepared->generation.top_logprobs.has_value();
  LogprobQueue logprobs;
  std::vector<LogprobEntry> entries;
  std::string out;
  absl::StatusOr<GenerationResult> result =
      lease->generator().Generate(prepared->generation, [&](const GeneratedToken& t) {
        const std::string piece_text = text.Push(t.piece);
        out += piece_text;
        if (t.logprobs != nullptr) {
          logprobs.Add(ToLogprobEntry(t, model_.tokenizer()));
          for (LogprobEntry& e : logprobs.Take(piece_text)) entries.push_back(std::move(e));
        }
        return !text.stopped() && !stopping_ && !PeerHungUp(peer_fd);
      });
  if (!result.ok()) return SendError(res, result.status());
  if (stopping_ && !text.stopped() && result->finish_reason == FinishReason::kCancelled) {
    return SendError(res, absl::UnavailableError("the server is shutting down"));
  }
  const std::string tail = text.Finish();
  out += tail;
  for (LogprobEntry& e : logprobs.Take(tail)) entries.push_back(std::move(e));
  for (LogprobEntry& e : logprobs.Finish(text.stopped())) entries.push_back(std::move(e));
  const std::string_view finish = text.stopped() ? "stop" : FinishReasonName(result->finish_reason);
  std::string body =
      CompletionJson(meta, out, finish, {result->prompt_tokens, result->completion_tokens},
                     logprobs_asked ? &entries : nullptr);
  if (prepared->report_modes) {
    body =
        WithModeReport(body, ModeSpans(*result), result->drafted_tokens, result->accepted_drafts);
  }
  res.set_content(body, kJson);
}

void HttpApi::RunStream(StreamJob& job, httplib::DataSink& sink) {
  bool connected = true;
  auto send = [&](const std::string& event) {
    if (connected && !sink.write(event.data(), event.size())) connected = false;
  };
  const CompletionMeta& meta = job.meta;
  if (meta.chat) send(SseEvent(StreamChunkJson(meta, "", std::nullopt, /*role=*/true)));
  CompletionText text(job.request.stops, job.request.strip_leading_space);
  const bool logprobs_asked = job.request.generation.top_logprobs.has_value();
  LogprobQueue logprobs;
  absl::StatusOr<GenerationResult> result =
      job.lease.generator().Generate(job.request.generation, [&](const GeneratedToken& t) {
        const std::string out = text.Push(t.piece);
        if (t.logprobs != nullptr) logprobs.Add(ToLogprobEntry(t, model_.tokenizer()));
        if (!out.empty()) {
          const std::vector<LogprobEntry> entries = logprobs.Take(out);
          send(SseEvent(StreamChunkJson(meta, out, std::nullopt, false,
                                        ChunkLogprobs(logprobs_asked, entries))));
        }
        return connected && !text.stopped() && !stopping_ && !PeerHungUp(job.peer_fd);
      });
  if (result.ok() && stopping_ && !text.stopped() &&
      result->finish_reason == FinishReason::kCancelled) {
    result = absl::UnavailableError("the server is shutting down");
  }
  if (!result.ok()) {
    send(SseEvent(ErrorJson(result.status())));
    sink.done();
    return;
  }
  const std::string tail = text.Finish();
  std::vector<LogprobEntry> entries = logprobs.Take(tail);
  for (LogprobEntry& e : logprobs.Finish(text.stopped())) entries.push_back(std::move(e));
  if (!tail.empty() || (logprobs_asked && !entries.empty())) {
    // Entries of tokens that showed no text (e.g. a stripped space) ride on an empty chunk.
    send(SseEvent(
        StreamChunkJson(meta, tail, std::nullopt, false, ChunkLogprobs(logprobs_asked, entries))));
  }
  const std::string_view finish = text.stopped() ? "stop" : FinishReasonName(result->finish_reason);
  std::string last = StreamChunkJson(meta, "", finish, false);
  if (job.request.report_modes) {
    last =
        WithModeReport(last, ModeSpans(*result), result->drafted_tokens, result->accepted_drafts);
  }
  send(SseEvent(last));
  if (job.request.include_usage) {
    send(SseEvent(UsageChunkJson(meta, {result->prompt_tokens, result->completion_tokens})));
  }
  send(kSseDone);
  sink.done();
}

bool HttpApi::Guard(const httplib::Request& req, httplib::Response& res) const {
  const bool has_origin = req.has_header("Origin");
  const std::string origin = req.get_header_value("Origin");
  const std::string host = req.get_header_value("Host");
  const std::string authorization = req.get_header_value("Authorization");
  // A browser asks before a cross-origin JSON POST (CORS preflight): answered for allowed
  // origins, refused (no CORS headers, so the browser never sends the POST) for others.
  const bool preflight = req.method == "OPTIONS";
  const absl::Status allowed = guard_.Check(
      {.host = host, .origin = origin, .has_origin = has_origin, .authorization = authorization},
      /*needs_key=*/!preflight && req.path != "/health");
  if (!allowed.ok()) {
    SendError(res, allowed);
    return true;
  }
  if (has_origin) {
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Vary", "Origin");
  }
  if (preflight) {
    res.status = 204;
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
    res.set_header("Access-Control-Max-Age", "600");
    return true;
  }
  return false;
}

void HttpApi::HandleHealth(httplib::Response& res) {
  // Generations fail over to any worker, so the daemon is healthy if any serves.
  absl::Status cloud = absl::UnavailableError("no cloud worker configured");
  const CloudEndpoint* serving = nullptr;
  for (const CloudEndpoint& worker : workers_) {
    cloud = worker.link->Probe(clock_.Now() + options_.probe_timeout);
    if (cloud.ok()) {
      serving = &worker;
      break;
    }
  }
  const char* status = cloud.ok() ? "ok" : options_.fallback_available ? "degraded" : "unavailable";
  nlohmann::json body{{"status", status},
                      {"model", model_.name()},
                      {"split_layer", model_.split()},
                      {"cloud", cloud.ok() ? "ok" : std::string(cloud.message())},
                      {"fallback", options_.fallback_available}};
  if (serving != nullptr) body["worker"] = serving->name;
  res.status = cloud.ok() || options_.fallback_available ? 200 : 503;
  res.set_content(DumpJson(body), kJson);
}

}  // namespace tandem::edge
