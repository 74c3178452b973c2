#include "edge/fake_cloud_link.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/codec/hidden_codec.h"
#include "common/model/layer_runner.h"
#include "common/sampler/logprobs.h"
#include "common/sampler/sampler.h"
#include "common/util/status_macros.h"

namespace tandem::edge {

// A session's state on the fake worker: layers [K, N) with their KV cache. Its current
// stream (the latest Open of its id) is `generation`.
struct FakeCloudLink::Session {
  int32_t split_layer = 0;
  uint64_t generation = 0;
  absl::Mutex mu;  // one step at a time
  std::unique_ptr<LayerRunner> runner ABSL_GUARDED_BY(mu);
};

class FakeCloudLink::Stream final : public CloudStream {
 public:
  Stream(FakeCloudLink& link, const SessionHello& hello, std::shared_ptr<Session> session,
         uint64_t generation, uint64_t epoch, SessionReady ready)
      : link_(link),
        hello_(hello),
        session_(std::move(session)),
        generation_(generation),
        epoch_(epoch),
        ready_(std::move(ready)) {}

  const SessionReady& ready() const override { return ready_; }

  absl::Status Send(const HiddenChunk& chunk, absl::Time deadline) override {
    RETURN_IF_ERROR(broken_);
    {
      absl::MutexLock lock(&link_.mu_);
      link_.chunks_.push_back(chunk);
    }
    bytes_.sent += static_cast<int64_t>(chunk.payload.size()) + 16;
    broken_ = Run(chunk);
    return broken_;
  }

  absl::StatusOr<SampledToken> Receive(absl::Time deadline) override {
    RETURN_IF_ERROR(broken_);
    if (absl::Status current = link_.CheckCurrent(hello_.session_id, generation_, epoch_);
        !current.ok()) {
      broken_ = current;
      return current;
    }
    if (tokens_.empty()) {
      return absl::DeadlineExceededError("fake worker: no token was asked for");
    }
    if (absl::Status fault = link_.TakeToken(); !fault.ok()) {
      broken_ = fault;
      return fault;
    }
    SampledToken token = tokens_.front();
    tokens_.pop_front();
    bytes_.received += 8;
    return token;
  }

  absl::Status Close(absl::Time deadline) override {
    RETURN_IF_ERROR(link_.CheckCurrent(hello_.session_id, generation_, epoch_));
    link_.EraseSession(hello_.session_id);
    absl::MutexLock lock(&link_.mu_);
    ++link_.closes_;
    return absl::OkStatus();
  }

  LinkBytes bytes() const override { return bytes_; }

 private:
  // What the worker does with a chunk: validate, decode, layers [K, N), maybe sample.
  absl::Status Run(const HiddenChunk& chunk) {
    RETURN_IF_ERROR(link_.CheckCurrent(hello_.session_id, generation_, epoch_));
    const LlamaHparams& hp = link_.model_.hparams();
    absl::MutexLock session_lock(&session_->mu);
    LayerRunner& runner = *session_->runner;
    if (chunk.start_position != runner.num_cached()) {
      return absl::FailedPreconditionError(
          absl::StrFormat("chunk starts at %d, the worker has %d positions", chunk.start_position,
                          runner.num_cached()));
    }
    if (chunk.num_positions < 1 || chunk.num_positions > ready_.max_chunk_positions) {
      return absl::InvalidArgumentError("bad number of positions");
    }
    std::vector<float> hidden(static_cast<size_t>(chunk.num_positions) * hp.dim);
    RETURN_IF_ERROR(DecodeHidden(chunk.codec, chunk.payload, chunk.num_positions, hp.dim,
                                 absl::MakeSpan(hidden)));
    absl::MutexLock lock(&link_.compute_mu_);
    RETURN_IF_ERROR(runner.Forward(absl::MakeSpan(hidden), chunk.num_positions,
                                   chunk.start_position, *link_.pool_));
    if (chunk.sample) {
      std::vector<float> logits(hp.n_vocab);
      absl::Span<const float> last(hidden.data() + hidden.size() - hp.dim, hp.dim);
      RETURN_IF_ERROR(Head(link_.model_, last, absl::MakeSpan(logits), *link_.pool_));
      const int32_t position = chunk.start_position + chunk.num_positions - 1;
      // Sampled by position, as the real worker does.
      SampledToken token{.position = position, .token_id = sampler_.Sample(logits, position)};
      const int32_t k = std::min(hello_.top_logprobs, ready_.max_top_logprobs);
      if (k > 0) token.logprob = LogprobOf(logits, token.token_id, k, &token.top_logprobs);
      tokens_.push_back(std::move(token));
    }
    return absl::OkStatus();
  }

  FakeCloudLink& link_;
  SessionHello hello_;
  Sampler sampler_{hello_.sampling};
  std::shared_ptr<Session> session_;
  const uint64_t generation_;
  const uint64_t epoch_;
  SessionReady ready_;
  std::deque<SampledToken> tokens_;
  absl::Status broken_;
  LinkBytes bytes_;
};

FakeCloudLink::FakeCloudLink(const LlamaModel& model, FakeCloudOptions options)
    : model_(model), options_(std::move(options)), pool_(std::make_unique<ThreadPool>(1)) {}

FakeCloudLink::~FakeCloudLink() = default;

absl::StatusOr<std::unique_ptr<CloudStream>> FakeCloudLink::Open(const SessionHello& hello,
                                                                 absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    ++opens_;
    last_hello_ = hello;
    RETURN_IF_ERROR(open_status_);
  }
  const LlamaHparams& hp = model_.hparams();
  if (hello.model_id != model_.identity()) {
    return absl::FailedPreconditionError("fake worker: model identity mismatch");
  }
  if (hello.n_layers != hp.n_layers || hello.hidden_dim != hp.dim || hello.split_layer < 1 ||
      hello.split_layer >= hp.n_layers) {
    return absl::FailedPreconditionError("fake worker: bad shape or split point");
  }
  if (hello.resume_position < 0) {
    return absl::InvalidArgumentError("fake worker: negative resume position");
  }
  RETURN_IF_ERROR(hello.sampling.Validate());
  ASSIGN_OR_RETURN(std::unique_ptr<LayerRunner> fresh,
                   LayerRunner::Create(model_, hello.split_layer, hp.n_layers, hello.max_context));
  SessionReady ready{.max_chunk_positions = options_.max_chunk_positions,
                     .max_chunk_bytes = options_.max_chunk_bytes,
                     .codecs = options_.codecs,
                     .max_top_logprobs = options_.max_top_logprobs};
  std::shared_ptr<Session> session;
  uint64_t generation = 0;
  uint64_t epoch = 0;
  {
    absl::MutexLock lock(&mu_);
    epoch = epoch_;
    generation = next_generation_++;
    auto it = sessions_.find(hello.session_id);
    if (it != sessions_.end()) {
      if (it->second->split_layer != hello.split_layer) {
        return absl::FailedPreconditionError("fake worker: the session runs another split");
      }
      session = it->second;
    } else {
      session = std::make_shared<Session>();
      session->split_layer = hello.split_layer;
      absl::MutexLock session_lock(&session->mu);
      session->runner = std::move(fresh);
      sessions_[hello.session_id] = session;
    }
    session->generation = generation;  // takes the session over
  }
  {
    absl::MutexLock session_lock(&session->mu);
    LayerRunner& runner = *session->runner;
    runner.Truncate(std::min(hello.resume_position, runner.num_cached()));
    ready.cached_positions = runner.num_cached();
  }
  {
    absl::MutexLock lock(&mu_);
    last_ready_ = ready;
  }
  return std::make_unique<Stream>(*this, hello, std::move(session), generation, epoch, ready);
}

absl::Status FakeCloudLink::Probe(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return open_status_;
}

void FakeCloudLink::SetOpenStatus(absl::Status status) {
  absl::MutexLock lock(&mu_);
  open_status_ = std::move(status);
}

void FakeCloudLink::FailAfterTokens(int32_t tokens, std::optional<absl::Status> status) {
  absl::MutexLock lock(&mu_);
  tokens_left_ = tokens;
  token_fault_ = status.value_or(absl::DeadlineExceededError("fake worker: no answer"));
  fault_once_ = false;
}

void FakeCloudLink::FailOnce(int32_t tokens, absl::Status status) {
  absl::MutexLock lock(&mu_);
  tokens_left_ = tokens;
  token_fault_ = std::move(status);
  fault_once_ = true;
}

void FakeCloudLink::Heal() {
  absl::MutexLock lock(&mu_);
  tokens_left_.reset();
}

void FakeCloudLink::LoseSessions() {
  absl::MutexLock lock(&mu_);
  sessions_.clear();
  ++epoch_;
}

absl::Status FakeCloudLink::TakeToken() {
  absl::MutexLock lock(&mu_);
  if (!tokens_left_.has_value()) return absl::OkStatus();
  if (*tokens_left_ == 0) {
    if (fault_once_) tokens_left_.reset();
    return token_fault_;
  }
  --*tokens_left_;
  return absl::OkStatus();
}

absl::Status FakeCloudLink::CheckCurrent(const std::string& id, uint64_t generation,
                                         uint64_t epoch) const {
  absl::MutexLock lock(&mu_);
  if (epoch != epoch_) return absl::UnavailableError("fake worker: restarted");
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError("fake worker: the session is gone");
  if (it->second->generation != generation) {
    return absl::AbortedError("fake worker: another stream took the session over");
  }
  return absl::OkStatus();
}

void FakeCloudLink::EraseSession(const std::string& id) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(id);
}

int32_t FakeCloudLink::opens() const {
  absl::MutexLock lock(&mu_);
  return opens_;
}

int32_t FakeCloudLink::closes() const {
  absl::MutexLock lock(&mu_);
  return closes_;
}

int32_t FakeCloudLink::sessions() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int32_t>(sessions_.size());
}

std::optional<SessionHello> FakeCloudLink::last_hello() const {
  absl::MutexLock lock(&mu_);
  return last_hello_;
}

std::optional<SessionReady> FakeCloudLink::last_ready() const {
  absl::MutexLock lock(&mu_);
  return last_ready_;
}

std::vector<HiddenChunk> FakeCloudLink::chunks() const {
  absl::MutexLock lock(&mu_);
  return chunks_;
}

}  // namespace tandem::edge
