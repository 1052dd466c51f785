#include "flwr/core/heartbeat_sender.h"

#include <utility>

namespace flwr::core {

bool IsHeartbeatFailure(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

HeartbeatSender::HeartbeatSender(HeartbeatSenderOptions options)
    : options_(std::move(options)),
      retry_(RetryInvokerOptions{.retryable = IsHeartbeatFailure,
                                 .connection_callbacks = false,
                                 .sleep = options_.sleep}) {}

HeartbeatSender::~HeartbeatSender() { Stop(); }

absl::Status HeartbeatSender::Start() {
  if (thread_.joinable() || stop_.IsSet()) {
    return absl::FailedPreconditionError("the heartbeat sender was started or stopped before");
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void HeartbeatSender::Stop() {
  stop_.Set();
  if (thread_.joinable()) thread_.join();
}

absl::Status HeartbeatSender::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

void HeartbeatSender::Run() {
  while (!stop_.IsSet()) {
    absl::Status status = retry_.Invoke(
        "heartbeat", [this] { return options_.send(stop_); }, &stop_);
    if (!status.ok()) {
      if (stop_.IsSet()) return;
      {
        absl::MutexLock lock(&mu_);
        status_ = status;
      }
      if (options_.on_error) options_.on_error(status);
      return;
    }
    sent_.fetch_add(1);
    // Stock: (HEARTBEAT_DEFAULT_INTERVAL - HEARTBEAT_CALL_TIMEOUT) *
    // (HEARTBEAT_BASE_MULTIPLIER + uniform(*HEARTBEAT_RANDOM_RANGE)).
    const absl::Duration next =
        (kHeartbeatDefaultInterval - kHeartbeatCallTimeout) * (0.8 + RandomUniform(-0.1, 0.1));
    if (!retry_.Wait(next, &stop_)) return;
  }
}

}  // namespace flwr::core
