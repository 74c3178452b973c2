#include "edge/generation_pool.h"

#include "absl/strings/str_format.h"
#include "common/util/status_macros.h"

namespace tandem::edge {

absl::Status PoolOptions::Validate() const {
  if (slots < 1 || slots > 256) return absl::InvalidArgumentError("slots must be in [1, 256]");
  if (threads_per_slot < 1 || threads_per_slot > 256) {
    return absl::InvalidArgumentError("threads must be in [1, 256]");
  }
  if (max_waiting < 0) return absl::InvalidArgumentError("max waiting must be >= 0");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GenerationPool>> GenerationPool::Create(
    const EdgeModel& model, CloudLink& link, const Clock& clock, EdgeMetrics& metrics,
    const SplitOptions& split, const PoolOptions& options) {
  ResilienceOptions no_reconnect;
  no_reconnect.reconnect.give_up_after = absl::ZeroDuration();
  return Create(model, {{.name = "cloud", .link = &link}}, /*fallback=*/nullptr, clock, metrics,
                split, no_reconnect, options);
}

absl::StatusOr<std::unique_ptr<GenerationPool>> GenerationPool::Create(
    const EdgeModel& model, const std::vector<CloudEndpoint>& endpoints,
    const FallbackModel* fallback, const Clock& clock, EdgeMetrics& metrics,
    const SplitOptions& split, const ResilienceOptions& resilience, const PoolOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  std::vector<Slot> slots(options.slots);
  for (Slot& slot : slots) {
    slot.pool = std::make_unique<ThreadPool>(options.threads_per_slot);
    ASSIGN_OR_RETURN(slot.generator,
                     ResilientGenerator::Create(model, endpoints, fallback, *slot.pool, clock,
                                                metrics, split, resilience));
  }
  return std::unique_ptr<GenerationPool>(new GenerationPool(std::move(slots), options.max_waiting));
}

GenerationPool::GenerationPool(std::vector<Slot> slots, int32_t max_waiting)
    : slots_(std::move(slots)), max_waiting_(max_waiting) {
  for (int32_t i = static_cast<int32_t>(slots_.size()) - 1; i >= 0; --i) free_.push_back(i);
}

GenerationPool::~GenerationPool() = default;

absl::StatusOr<GenerationPool::Lease> GenerationPool::Acquire(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (free_.empty()) {
    if (waiting_ >= max_waiting_) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "all %d generation slots are busy and %d requests are waiting; retry later",
          slots_.size(), waiting_));
    }
    ++waiting_;
    const auto has_free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !free_.empty(); };
    const bool got = mu_.AwaitWithDeadline(absl::Condition(&has_free), deadline);
    --waiting_;
    if (!got) {
      return absl::ResourceExhaustedError("no generation slot became free in time; retry later");
    }
  }
  const int32_t slot = free_.back();
  free_.pop_back();
  return Lease(this, slot);
}

void GenerationPool::Release(int32_t slot) {
  absl::MutexLock lock(&mu_);
  free_.push_back(slot);
}

GenerationPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_);
}

ResilientGenerator& GenerationPool::Lease::generator() { return *pool_->slots_[slot_].generator; }

}  // namespace tandem::edge
