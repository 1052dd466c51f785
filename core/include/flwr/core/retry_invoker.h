// The one retry policy of our clients of Flower APIs (the SuperNode's Fleet client, the apps'
// Runtime API client), as the stock `RetryInvoker` (flwr/supercore/retry/retry_invoker.py):
// exponential backoff (1 s doubling, capped) with full jitter, optional limits on tries and
// time, waits that a StopSignal ends early. Which failures are retried is the caller's
// choice, as stock's `should_giveup`.
#ifndef FLWR_CORE_RETRY_INVOKER_H_
#define FLWR_CORE_RETRY_INVOKER_H_

#include <functional>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace flwr::core {

// MAX_RETRY_DELAY (flwr.common.constant): the cap of the stock invokers' backoff.
inline constexpr absl::Duration kMaxRetryDelay = absl::Seconds(20);

// A uniform draw from [lo, hi) of the process's one random engine, seeded once from the OS.
// Thread-safe. The jitter of every backoff and heartbeat schedule comes from here.
double RandomUniform(double lo, double hi);

// The stock `exponential(base_delay, multiplier, max_delay)` generator: Next() returns
// min(base, cap), then each time `multiplier` times the previous value, at most `cap`.
// Not thread-safe; one per retry sequence.
class ExponentialBackoff {
 public:
  explicit ExponentialBackoff(absl::Duration base = absl::Seconds(1), double multiplier = 2,
                              absl::Duration cap = kMaxRetryDelay);
  absl::Duration Next();

 private:
  absl::Duration delay_;
  const double multiplier_;
  const absl::Duration cap_;
};

// A flag that ends waits early once set (stock `threading.Event` as a wait function).
// Thread-safe.
class StopSignal {
 public:
  void Set();
  bool IsSet() const;
  // Waits until `d` has passed or the flag is set; returns false if it is set.
  bool WaitFor(absl::Duration d) const;

 private:
  mutable absl::Mutex mu_;
  bool set_ ABSL_GUARDED_BY(mu_) = false;
};

struct RetryInvokerOptions {
  // Whether a failed attempt is tried again (stock: not `should_giveup`). Unset: none is.
  std::function<bool(const absl::Status&)> retryable{};
  // Limits per Invoke; unset means unlimited (stock `max_tries`, `max_time`). The time is
  // measured from the start of the first attempt to the start of the latest, so an attempt
  // begun within `max_time` may end after it.
  std::optional<int> max_tries{};
  std::optional<absl::Duration> max_time{};
  // The callbacks of stock `make_simple_grpc_retry_invoker` / `make_simple_http_retry_invoker`:
  // log each failed attempt (DEBUG) and wait (WARNING), the success (INFO) or the give-up
  // (WARNING) after more than one try; and let one invocation wait at a time (concurrent
  // calls are likely to fail alike). False: silent, waits in parallel (stock HeartbeatSender).
  bool connection_callbacks = true;
  // Test hook: replaces every wait; the StopSignal is still checked after it.
  std::function<void(absl::Duration)> sleep{};
};

// Thread-safe: Invoke may run concurrently from any thread.
class RetryInvoker {
 public:
  explicit RetryInvoker(RetryInvokerOptions options);

  // Runs `attempt` until it returns OK, or a status that is not retryable, or the limits are
  // reached, and returns that last status. Between tries it waits uniformly in
  // [0, ExponentialBackoff().Next()), and at most what was left of `max_time` when the failed
  // try began (so the waits of one Invoke add up to at most `max_time`). With `stop`, a wait ends
  // when it is set and Invoke returns Cancelled. `name` names the call in the logs.
  absl::Status Invoke(absl::string_view name, absl::FunctionRef<absl::Status()> attempt,
                      const StopSignal* stop = nullptr);

  // Replaces `max_tries` for later invocations (stock exit handlers set 1).
  void SetMaxTries(std::optional<int> max_tries);

  // Waits `d` (or calls the test hook), ended early by `stop` when given; returns false if
  // `stop` is set. Negative durations wait nothing.
  bool Wait(absl::Duration d, const StopSignal* stop = nullptr) const;

 private:
  const RetryInvokerOptions options_;
  absl::Mutex wait_mu_;  // serialises waits under `connection_callbacks`
  mutable absl::Mutex mu_;
  std::optional<int> max_tries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace flwr::core

#endif  // FLWR_CORE_RETRY_INVOKER_H_
