#include "edge/async_open.h"

#include <utility>

namespace tandem::edge {

AsyncOpen::AsyncOpen(CloudLink& link, SessionHello hello, absl::Time deadline, int32_t endpoint)
    : hello_(std::move(hello)),
      endpoint_(endpoint),
      result_(absl::UnknownError("the attempt has not finished")) {
  thread_ = std::thread([this, &link, deadline] {
    result_ = link.Open(hello_, deadline);
    done_.Notify();
  });
}

AsyncOpen::~AsyncOpen() { thread_.join(); }

absl::StatusOr<std::unique_ptr<CloudStream>> AsyncOpen::Take() {
  done_.WaitForNotification();
  return std::move(result_);
}

}  // namespace tandem::edge
