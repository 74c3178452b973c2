#include "edge/resilient_generator.h"

#include <algorithm>
#include <iostream>
#include <limits>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/status_macros.h"

namespace tandem::edge {
namespace {

// Codes that retrying the same worker soon will not fix: skip it for a while.
bool IsPermanent(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

// Positions a draft model catches up at most before drafting (beyond: it restarts on a
// window of this many): bounds what re-enabling speculation after plain steps costs.
constexpr int32_t kMaxDraftCatchUp = 64;

std::string Describe(const absl::Status& status) {
  return absl::StrFormat("%s: %s", absl::StatusCodeToString(status.code()), status.message());
}

}  // namespace

absl::Status ResilienceOptions::Validate() const {
  RETURN_IF_ERROR(reconnect.Validate());
  if (speculation.enabled) RETURN_IF_ERROR(speculation.Validate());
  if (deadline.floor <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the step deadline floor must be positive");
  }
  if (!(deadline.chunk_factor >= 1)) {
    return absl::InvalidArgumentError("the per-chunk deadline factor must be >= 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ResilientGenerator>> ResilientGenerator::Create(
    const EdgeModel& model, std::vector<CloudEndpoint> endpoints, const FallbackModel* fallback,
    ThreadPool& pool, const Clock& clock, EdgeMetrics& metrics, const SplitOptions& options,
    const ResilienceOptions& resilience) {
  RETURN_IF_ERROR(options.Validate());
  RETURN_IF_ERROR(resilience.Validate());
  if (resilience.deadline.floor > options.step_timeout) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the step deadline floor (%s) is above the step timeout (%s)",
                        absl::FormatDuration(resilience.deadline.floor),
                        absl::FormatDuration(options.step_timeout)));
  }
  if (endpoints.empty()) return absl::InvalidArgumentError("no cloud endpoint given");
  for (const CloudEndpoint& e : endpoints) {
    if (e.link == nullptr) return absl::InvalidArgumentError("a cloud endpoint has no link");
  }
  ASSIGN_OR_RETURN(const int32_t context, options.ContextSize(model.hparams()));
  ASSIGN_OR_RETURN(std::unique_ptr<CloudSession> cloud,
                   CloudSession::Create(model, pool, clock, options.codec, context,
                                        options.prompt_chunk_positions));
  cloud->set_token_deadline(options.token_deadline);
  std::unique_ptr<FallbackSession> fallback_session;
  if (fallback != nullptr) {
    ASSIGN_OR_RETURN(fallback_session, FallbackSession::Create(*fallback, context, pool));
  }
  std::unique_ptr<FallbackSession> own_draft;
  const SpeculationOptions& speculation = resilience.speculation;
  if (speculation.enabled) {
    if (speculation.draft_model == nullptr && fallback == nullptr) {
      return absl::InvalidArgumentError(
          "speculative decoding needs a draft model (or a fallback model to draft with)");
    }
    if (speculation.draft_model != nullptr && speculation.draft_model != fallback) {
      // A draft with a shorter context drafts until the context outgrows it.
      ASSIGN_OR_RETURN(own_draft,
                       FallbackSession::Create(
                           *speculation.draft_model,
                           std::min(context, speculation.draft_model->context_length()), pool));
    }
  }
  if (speculation.enabled) {
    RETURN_IF_ERROR((own_draft != nullptr ? own_draft : fallback_session)->WarmUp());
  }
  return std::unique_ptr<ResilientGenerator>(new ResilientGenerator(
      model, std::move(endpoints), fallback, clock, metrics, options, resilience, std::move(cloud),
      std::move(fallback_session), std::move(own_draft)));
}

ResilientGenerator::ResilientGenerator(const EdgeModel& model, std::vector<CloudEndpoint> endpoints,
                                       const FallbackModel* fallback, const Clock& clock,
                                       EdgeMetrics& metrics, const SplitOptions& options,
                                       const ResilienceOptions& resilience,
                                       std::unique_ptr<CloudSession> cloud,
                                       std::unique_ptr<FallbackSession> fallback_session,
                                       std::unique_ptr<FallbackSession> own_draft)
    : model_(model),
      endpoints_(std::move(endpoints)),
      fallback_model_(fallback),
      clock_(clock),
      metrics_(metrics),
      options_(options),
      resilience_(resilience),
      cloud_(std::move(cloud)),
      fallback_(std::move(fallback_session)),
      own_draft_(std::move(own_draft)),
      draft_(!resilience.speculation.enabled ? nullptr
             : own_draft_ != nullptr         ? own_draft_.get()
                                             : fallback_.get()),
      speculation_(resilience.speculation),
      deadline_([&] {
        StepDeadlineOptions d = resilience.deadline;
        d.ceiling = options.step_timeout;
        return d;
      }()),
      policy_(resilience.reconnect, static_cast<int32_t>(endpoints_.size()), clock,
              absl::Uniform<uint64_t>(absl::BitGen())) {}

ResilientGenerator::~ResilientGenerator() = default;  // joins the attempts

void ResilientGenerator::Warn(const std::string& line) {
  if (resilience_.warn) {
    resilience_.warn(line);
  } else {
    // One write per line: several generations may warn at once.
    std::cerr << absl::StrCat("tandem-edge: WARNING: ", line, "\n") << std::flush;
  }
}

void ResilientGenerator::CollectRetired() {
  std::erase_if(retired_, [](const std::unique_ptr<AsyncOpen>& a) { return a->done(); });
}

absl::StatusOr<GenerationResult> ResilientGenerator::Generate(const GenerationRequest& request,
                                                              TokenSink sink) {
  RETURN_IF_ERROR(request.sampling.Validate());
  if (request.top_logprobs.has_value() &&
      (*request.top_logprobs < 0 || *request.top_logprobs > kMaxTopLogprobs)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("top_logprobs must be in [0, %d]", kMaxTopLogprobs));
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> prompt,
                   TokenizePrompt(model_.tokenizer(), request, max_context()));
  metrics_.SessionStarted();
  absl::Cleanup ended = [this] { metrics_.SessionEnded(); };
  CollectRetired();
  session_id_ = NewSessionId();
  sampling_ = request.sampling;
  top_logprobs_ = request.top_logprobs;
  context_.assign(prompt.begin(), prompt.end());
  queued_.clear();
  cloud_->Reset();
  if (fallback_ != nullptr) fallback_->Reset(sampling_, top_logprobs_.value_or(-1));
  if (own_draft_ != nullptr) own_draft_->Reset(sampling_);
  speculation_.Restart();
  mode_ = GenerationMode::kCloud;
  fallback_run_tokens_ = 0;
  last_failure_ = absl::OkStatus();
  resumed_from_.reset();

  absl::StatusOr<GenerationResult> result = GenerateTokens(prompt, request, sink);
  EndSession(result.status());
  return result;
}

void ResilientGenerator::EndSession(const absl::Status& result) {
  if (cloud_->connected()) {
    // A finished session is closed for good; a failed one is dropped (cancelled), which
    // leaves it resumable on the worker for its idle timeout.
    LinkBytes bytes;
    if (result.ok()) {
      absl::Status closed;
      bytes = cloud_->Close(clock_.Now() + deadline_.decode(), &closed);
      if (!closed.ok()) metrics_.AddError(closed.code());
    } else {
      bytes = cloud_->Drop();
    }
    metrics_.AddLinkBytes(bytes.sent, bytes.received);
  }
  if (mode_ == GenerationMode::kFallback) metrics_.AddFallbackActive(-1);
  if (attempt_ != nullptr) {
    // An attempt for this session is of no use to the next one (which starts a new
    // session), but the endpoint may well be back: the next attempt need not wait.
    retired_.push_back(std::move(attempt_));
    policy_.AttemptAbandoned();
  }
  if (!result.ok()) metrics_.AddError(result.code());
}

absl::Status ResilientGenerator::StartSession() {
  endpoint_ = policy_.preferred();
  if (policy_.in_outage() && fallback_ != nullptr) {
    // Offline since an earlier generation: start here, reconnect in the background.
    mode_ = GenerationMode::kFallback;
    fallback_since_ = clock_.Now();
    metrics_.AddFallbackActive(1);
    return absl::OkStatus();
  }
  const SessionHello hello =
      cloud_->Hello(session_id_, sampling_, /*context_size=*/0, WorkerTopLogprobs());
  // With a fallback to go to, a Hello -> Ready round trip gets what a step of the
  // measured link gets, not the full open timeout: a dead link must not hold up the
  // first token.
  absl::Duration open_timeout = options_.open_timeout;
  if (fallback_ != nullptr && deadline_.measured()) {
    open_timeout = std::min(open_timeout, deadline_.per_chunk(/*positions=*/2));
  }
  absl::StatusOr<std::unique_ptr<CloudStream>> stream =
      endpoints_[endpoint_].link->Open(hello, clock_.Now() + open_timeout);
  absl::Status opened = stream.status();
  if (stream.ok()) opened = cloud_->Attach(*std::move(stream), hello).status();
  return opened.ok() ? absl::OkStatus() : OnLinkFailure(opened);
}

absl::StatusOr<GenerationResult> ResilientGenerator::GenerateTokens(
    absl::Span<const int32_t> prompt, const GenerationRequest& request, TokenSink sink) {
  const Tokenizer& tokenizer = model_.tokenizer();
  GenerationResult result{.prompt_tokens = static_cast<int32_t>(prompt.size())};
  const int32_t max_tokens =
      request.max_tokens < 0 ? std::numeric_limits<int32_t>::max() : request.max_tokens;
  if (max_tokens == 0) return result;  // nothing to ask anyone for

  RETURN_IF_ERROR(StartSession());
  const ResilienceStats before = stats_;

  while (true) {
    tokens_left_ = max_tokens - result.completion_tokens;
    ASSIGN_OR_RETURN(const Produced next, NextToken());
    const int32_t token = next.token;
    if (tokenizer.IsEog(token)) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    const std::string piece = tokenizer.TokenToPiece(token);
    const int32_t position = static_cast<int32_t>(context_.size());
    context_.push_back(token);
    ++result.completion_tokens;
    AddToModeRuns(next.mode, result.modes);
    metrics_.AddToken();
    metrics_.AddTokenByMode(GenerationModeName(next.mode));
    if (next.mode == GenerationMode::kCloud) {
      ++stats_.cloud_tokens;
    } else {
      ++stats_.fallback_tokens;
    }
    if (!sink(GeneratedToken{.id = token,
                             .position = position,
                             .piece = piece,
                             .mode = next.mode,
                             .logprobs = top_logprobs_.has_value() ? &next.logprobs : nullptr})) {
      result.finish_reason = FinishReason::kCancelled;
      break;
    }
    // The last token of a full context is sampled but never run (as `tandem generate`).
    if (result.completion_tokens >= max_tokens || position >= max_context()) {
      result.finish_reason = FinishReason::kLength;
      break;
    }
  }
  result.drafted_tokens = static_cast<int32_t>(stats_.drafted - before.drafted);
  result.accepted_drafts = static_cast<int32_t>(stats_.accepted - before.accepted);
  return result;
}

absl::StatusOr<ResilientGenerator::Produced> ResilientGenerator::NextToken() {
  // The state machine: cloud -> (link failure) -> fallback -> (an attempt opened a stream)
  // -> catching up (resumed_from_ set: the first CloudStep sends what the worker lacks)
  // -> cloud. Without a fallback model, a link failure goes straight to reconnecting.
  while (true) {
    if (!queued_.empty()) {  // the rest of a speculative round
      Produced next = std::move(queued_.front());
      queued_.pop_front();
      return next;
    }
    if (mode_ == GenerationMode::kCloud) {
      if (!cloud_->connected()) RETURN_IF_ERROR(Reconnect());  // no fallback: wait for one
      absl::Status step = CloudStep();
      if (!step.ok()) RETURN_IF_ERROR(OnLinkFailure(step));
      continue;
    }
    MaybeStartAttempt();
    if (TrySwitchBack()) continue;
    ASSIGN_OR_RETURN(SampledToken token, fallback_->Next(context_));
    ++fallback_run_tokens_;
    return Make(std::move(token), GenerationMode::kFallback);
  }
}

ResilientGenerator::Produced ResilientGenerator::Make(SampledToken sampled,
                                                      GenerationMode mode) const {
  Produced out{.token = sampled.token_id, .mode = mode};
  if (top_logprobs_.has_value()) {
    out.logprobs.logprob = sampled.logprob;
    out.logprobs.top = std::move(sampled.top_logprobs);
    if (static_cast<int32_t>(out.logprobs.top.size()) > *top_logprobs_) {
      out.logprobs.top.resize(*top_logprobs_);
    }
  }
  return out;
}

int32_t ResilientGenerator::WorkerTopLogprobs() const {
  return top_logprobs_.has_value() ? std::max(*top_logprobs_, 1) : 0;
}

std::vector<int32_t> ResilientGenerator::DraftTokens(absl::Duration* draft_time) {
  *draft_time = absl::ZeroDuration();
  // Drafts carry no logprobs, and a catching-up step sends more than the last position.
  if (!CanDraft() || resumed_from_.has_value()) return {};
  const int32_t size = static_cast<int32_t>(context_.size());
  // The round's last position must stay in the context, its last token within the request.
  const int32_t capacity =
      std::min({cloud_->draft_capacity(size), max_context() - size, tokens_left_ - 1});
  const int32_t want = speculation_.NextDraftCount(capacity);
  if (want <= 0) return {};
  // A draft model that lagged behind (plain steps) catches up outside the measured time.
  absl::StatusOr<std::vector<int32_t>> drafts;
  if (absl::Status caught_up = draft_->CatchUp(context_, kMaxDraftCatchUp, want).status();
      !caught_up.ok()) {
    drafts = caught_up;
  } else {
    const absl::Time start = clock_.Now();
    drafts = draft_->Draft(context_, want);
    *draft_time = clock_.Now() - start;
  }
  if (!drafts.ok()) {
    // The draft model is an optimisation: without it the generation goes on plainly.
    Warn(absl::StrFormat("session %s: the draft model failed (%s); speculation is off", session_id_,
                         Describe(drafts.status())));
    draft_->KeepAtMost(0);
    draft_ = nullptr;
    return {};
  }
  // Nothing after an end of generation is worth verifying.
  const Tokenizer& tokenizer = model_.tokenizer();
  auto eog =
      std::find_if(drafts->begin(), drafts->end(), [&](int32_t t) { return tokenizer.IsEog(t); });
  if (eog != drafts->end()) drafts->erase(eog + 1, drafts->end());
  return *std::move(drafts);
}

absl::Status ResilientGenerator::CloudStep() {
  const int32_t missing = static_cast<int32_t>(context_.size()) - cloud_->positions();
  absl::Duration draft_time;
  const std::vector<int32_t> drafts =
      missing == 1 ? DraftTokens(&draft_time) : std::vector<int32_t>();
  const int32_t n_drafts = static_cast<int32_t>(drafts.size());
  const absl::Time start = clock_.Now();
  const LinkBytes before = cloud_->bytes();
  // A prompt (or catch-up) step: the draft model catches up on it meanwhile, so that the
  // first draft round does not pay for it.
  auto draft_catch_up = [&] {
    if (missing > 1 && CanDraft()) {
      draft_->CatchUp(context_, kMaxDraftCatchUp, /*count=*/1).IgnoreError();  // retried later
    }
  };
  absl::StatusOr<SampledToken> step =
      cloud_->Advance(context_, deadline_.per_chunk(missing + n_drafts), drafts, draft_catch_up);
  // The draft keeps only what the context will hold: the accepted drafts (none on error).
  if (n_drafts > 0) {
    draft_->KeepAtMost(static_cast<int32_t>(context_.size()) +
                       (step.ok() ? step->accepted_drafts : 0));
  }
  if (!step.ok()) return step.status();
  SampledToken token = *std::move(step);
  const LinkBytes after = cloud_->bytes();
  if (missing == 1) {
    const absl::Duration latency = clock_.Now() - start;
    deadline_.Observe(latency);
    metrics_.SetStepDeadline(absl::ToDoubleSeconds(deadline_.decode()));
    metrics_.ObserveStep(absl::ToDoubleSeconds(latency));
    metrics_.ObserveBytesPerToken((after.sent - before.sent + after.received - before.received) /
                                  (1 + token.accepted_drafts));
    ++stats_.rounds;
    if (draft_ != nullptr) {
      speculation_.Observe(n_drafts, token.accepted_drafts, draft_time, latency);
      metrics_.ObserveRound(n_drafts, token.accepted_drafts);
      stats_.drafted += n_drafts;
      stats_.accepted += token.accepted_drafts;
    }
  }
  for (int32_t i = 0; i < token.accepted_drafts; ++i) {
    queued_.push_back(Produced{.token = drafts[i], .mode = GenerationMode::kCloud});
  }
  queued_.push_back(Make(std::move(token), GenerationMode::kCloud));
  if (resumed_from_.has_value()) {
    // The first step on a reconnected stream went through: the session is back.
    const int32_t cached = *resumed_from_;
    resumed_from_.reset();
    policy_.OnSuccess(endpoint_);
    ++(cached > 0 ? stats_.resumed : stats_.replayed);
    metrics_.AddReconnect(cached > 0 ? "resumed" : "replayed");
    last_catchup_ = {.cached = cached, .positions = missing, .bytes = after.sent - before.sent};
    stats_.catchup_positions += last_catchup_.positions;
    stats_.catchup_bytes += last_catchup_.bytes;
    metrics_.AddCatchUp(last_catchup_.positions, last_catchup_.bytes);
  }
  return absl::OkStatus();
}

absl::Status ResilientGenerator::OnLinkFailure(const absl::Status& status) {
  const LinkBytes bytes = cloud_->Drop();
  metrics_.AddLinkBytes(bytes.sent, bytes.received);
  if (resumed_from_.has_value()) {
    // The catch-up on a reconnected stream failed: one more failed attempt.
    resumed_from_.reset();
    OnAttemptFailed(endpoint_, status);
    return absl::OkStatus();
  }
  metrics_.AddLinkFailure(status.code());
  last_failure_ = status;
  if (IsPermanent(status.code())) policy_.Disable(endpoint_);
  policy_.OnFailure(endpoint_);
  if (fallback_ != nullptr) {
    SwitchToFallback(status);
    return absl::OkStatus();
  }
  Warn(absl::StrFormat("session %s: the link to the cloud worker %s failed at position %d (%s); %s",
                       session_id_, endpoints_[endpoint_].name, context_.size(), Describe(status),
                       resilience_.reconnect.give_up_after == absl::ZeroDuration()
                           ? "no fallback model and no reconnect: the generation fails"
                           : "reconnecting (no fallback model)"));
  return absl::OkStatus();  // NextToken reconnects
}

void ResilientGenerator::SwitchToFallback(const absl::Status& cause) {
  mode_ = GenerationMode::kFallback;
  fallback_run_tokens_ = 0;
  fallback_since_ = clock_.Now();
  ++stats_.to_fallback;
  metrics_.AddModeSwitch(GenerationModeName(GenerationMode::kFallback));
  metrics_.AddFallbackActive(1);
  Warn(absl::StrFormat(
      "session %s: the link to the cloud worker %s failed at position %d (%s); continuing on "
      "the fallback model %s",
      session_id_, endpoints_[endpoint_].name, context_.size(), Describe(cause),
      fallback_model_->name()));
}

void ResilientGenerator::OnAttemptFailed(int32_t endpoint, const absl::Status& status) {
  ++stats_.failed_attempts;
  metrics_.AddReconnect("failed");
  last_failure_ = status;
  if (IsPermanent(status.code())) policy_.Disable(endpoint);
  policy_.OnFailure(endpoint);
}

absl::Status ResilientGenerator::AttachReconnected(std::unique_ptr<CloudStream> stream,
                                                   const SessionHello& hello, int32_t endpoint) {
  absl::StatusOr<int32_t> cached = cloud_->Attach(std::move(stream), hello);
  if (!cached.ok()) {
    cloud_->Drop();
    OnAttemptFailed(endpoint, cached.status());
    return cached.status();
  }
  endpoint_ = endpoint;
  resumed_from_ = *cached;
  return absl::OkStatus();
}

void ResilientGenerator::MaybeStartAttempt() {
  if (attempt_ != nullptr) return;
  if (fallback_run_tokens_ < resilience_.reconnect.min_fallback_tokens) return;
  if (!policy_.AttemptDue()) return;
  CollectRetired();
  const int32_t endpoint = policy_.NextEndpoint();
  policy_.AttemptStarted();
  SessionHello hello = cloud_->Hello(session_id_, sampling_, static_cast<int32_t>(context_.size()),
                                     WorkerTopLogprobs());
  attempt_ =
      std::make_unique<AsyncOpen>(*endpoints_[endpoint].link, std::move(hello),
                                  clock_.Now() + resilience_.reconnect.open_timeout, endpoint);
}

bool ResilientGenerator::TrySwitchBack() {
  if (attempt_ == nullptr || !attempt_->Finished(clock_)) return false;
  const std::unique_ptr<AsyncOpen> attempt = std::move(attempt_);
  absl::StatusOr<std::unique_ptr<CloudStream>> stream = attempt->Take();
  if (!stream.ok()) {
    OnAttemptFailed(attempt->endpoint(), stream.status());
    return false;
  }
  if (!AttachReconnected(*std::move(stream), attempt->hello(), attempt->endpoint()).ok()) {
    return false;
  }
  // Catch up: the positions the worker lacks, then the next token (queued).
  if (absl::Status step = CloudStep(); !step.ok()) {
    OnLinkFailure(step).IgnoreError();  // a failed attempt: stays on the fallback
    return false;
  }
  ++stats_.to_cloud;
  metrics_.AddModeSwitch(GenerationModeName(GenerationMode::kCloud));
  metrics_.AddFallbackActive(-1);
  mode_ = GenerationMode::kCloud;
  Warn(absl::StrFormat(
      "session %s: back on the cloud worker %s at position %d after %d fallback tokens (%s); "
      "%s, %d positions caught up (%d bytes)",
      session_id_, endpoints_[endpoint_].name, context_.size(), fallback_run_tokens_,
      absl::FormatDuration(clock_.Now() - fallback_since_),
      last_catchup_.cached > 0
          ? absl::StrFormat("the worker still had %d positions", last_catchup_.cached)
          : std::string("the worker had lost the session (replayed)"),
      last_catchup_.positions, last_catchup_.bytes));
  return true;
}

absl::Status ResilientGenerator::Reconnect() {
  while (true) {
    const int32_t endpoint = policy_.NextEndpoint();
    if (endpoint < 0) {
      return absl::Status(last_failure_.code(),
                          absl::StrFormat("no cloud worker can serve the session (last error: %s)",
                                          last_failure_.message()));
    }
    // No reconnect wanted: the link's error is the generation's.
    if (resilience_.reconnect.give_up_after == absl::ZeroDuration()) return last_failure_;
    const absl::Time give_up = policy_.outage_start() + resilience_.reconnect.give_up_after;
    const absl::Time at = std::max(policy_.next_attempt(), clock_.Now());
    if (at >= give_up) {
      return absl::UnavailableError(absl::StrFormat(
          "no cloud worker for %s and no fallback model (last error: %s)",
          absl::FormatDuration(resilience_.reconnect.give_up_after), Describe(last_failure_)));
    }
    clock_.SleepUntil(at);
    policy_.AttemptStarted();
    const SessionHello hello = cloud_->Hello(
        session_id_, sampling_, static_cast<int32_t>(context_.size()), WorkerTopLogprobs());
    absl::StatusOr<std::unique_ptr<CloudStream>> stream = endpoints_[endpoint].link->Open(
        hello, clock_.Now() + std::min(resilience_.reconnect.open_timeout, give_up - clock_.Now()));
    if (!stream.ok()) {
      OnAttemptFailed(endpoint, stream.status());
      continue;
    }
    if (AttachReconnected(*std::move(stream), hello, endpoint).ok()) {
      Warn(absl::StrFormat(
          "session %s: reconnected to the cloud worker %s at position %d; %s", session_id_,
          endpoints_[endpoint].name, context_.size(),
          *resumed_from_ > 0 ? absl::StrFormat("the worker still had %d positions", *resumed_from_)
                             : std::string("the worker had lost the session: replaying")));
      return absl::OkStatus();  // the next step catches the worker up
    }
  }
}

}  // namespace tandem::edge
