// The heartbeat thread of our clients of Flower APIs (the SuperNode's SendNodeHeartbeat, the
// apps' SendTaskHeartbeat), as the stock `HeartbeatSender` (flwr/supercore/heartbeat.py):
// one heartbeat at once, then one every (30 s - 5 s) * uniform(0.7, 0.9); a failed heartbeat
// retried without limit by its own silent RetryInvoker, every wait ended by Stop().
#ifndef FLWR_CORE_HEARTBEAT_SENDER_H_
#define FLWR_CORE_HEARTBEAT_SENDER_H_

#include <atomic>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "flwr/core/retry_invoker.h"

namespace flwr::core {

// Stock constants (flwr.common.constant).
inline constexpr absl::Duration kHeartbeatDefaultInterval = absl::Seconds(30);
inline constexpr absl::Duration kHeartbeatCallTimeout = absl::Seconds(5);

// True for the failures a heartbeat retries (stock HeartbeatFailure): Unavailable (gRPC
// UNAVAILABLE, an HTTP transport error, 503) and DeadlineExceeded (DEADLINE_EXCEEDED, 504).
bool IsHeartbeatFailure(const absl::Status& status);

struct HeartbeatSenderOptions {
  // Sends one heartbeat: OK when it was acknowledged; a heartbeat failure to retry; any other
  // status ends the sender. `stop` is set by Stop(): the call's own waits should end on it.
  std::function<absl::Status(const StopSignal& stop)> send{};
  // Runs at most once, on the heartbeat thread, with the status that ended the sender (never
  // after Stop()).
  std::function<void(const absl::Status&)> on_error{};
  // Test hook: replaces every wait, between heartbeats and between retries.
  std::function<void(absl::Duration)> sleep{};
};

// Thread-safe, except that Start and Stop must not race each other.
class HeartbeatSender {
 public:
  explicit HeartbeatSender(HeartbeatSenderOptions options);
  // Stops the thread.
  ~HeartbeatSender();

  HeartbeatSender(const HeartbeatSender&) = delete;
  HeartbeatSender& operator=(const HeartbeatSender&) = delete;

  // Starts the heartbeat thread. FailedPrecondition if it was started or stopped before.
  absl::Status Start();
  // Ends every wait of the thread and joins it; idempotent.
  void Stop();

  // OK while running, and after Stop(); otherwise the status that ended the sender.
  absl::Status status() const;
  // The heartbeats `send` acknowledged.
  int sent() const { return sent_.load(); }

 private:
  void Run();

  const HeartbeatSenderOptions options_;
  RetryInvoker retry_;
  StopSignal stop_;
  std::thread thread_;
  std::atomic<int> sent_{0};
  mutable absl::Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace flwr::core

#endif  // FLWR_CORE_HEARTBEAT_SENDER_H_
