#include "flwr/core/retry_invoker.h"

#include <algorithm>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "flwr/core/logging.h"

namespace flwr::core {

namespace {

struct RandomEngine {
  absl::Mutex mu;
  std::mt19937_64 bits ABSL_GUARDED_BY(mu){std::random_device{}()};
};

}  // namespace

double RandomUniform(double lo, double hi) {
  static RandomEngine* const engine = new RandomEngine;
  absl::MutexLock lock(&engine->mu);
  return std::uniform_real_distribution<double>(lo, hi)(engine->bits);
}

ExponentialBackoff::ExponentialBackoff(absl::Duration base, double multiplier, absl::Duration cap)
    : delay_(std::min(base, cap)), multiplier_(multiplier), cap_(cap) {}

absl::Duration ExponentialBackoff::Next() {
  const absl::Duration delay = delay_;
  delay_ = std::min(delay_ * multiplier_, cap_);
  return delay;
}

void StopSignal::Set() {
  absl::MutexLock lock(&mu_);
  set_ = true;
}

bool StopSignal::IsSet() const {
  absl::MutexLock lock(&mu_);
  return set_;
}

bool StopSignal::WaitFor(absl::Duration d) const {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&set_), d);
  return !set_;
}

RetryInvoker::RetryInvoker(RetryInvokerOptions options)
    : options_(std::move(options)), max_tries_(options_.max_tries) {}

void RetryInvoker::SetMaxTries(std::optional<int> max_tries) {
  absl::MutexLock lock(&mu_);
  max_tries_ = max_tries;
}

bool RetryInvoker::Wait(absl::Duration d, const StopSignal* stop) const {
  d = std::max(d, absl::ZeroDuration());
  if (options_.sleep) {
    options_.sleep(d);
  } else if (stop != nullptr) {
    return stop->WaitFor(d);
  } else {
    absl::SleepFor(d);
  }
  return stop == nullptr || !stop->IsSet();
}

absl::Status RetryInvoker::Invoke(absl::string_view name, absl::FunctionRef<absl::Status()> attempt,
                                  const StopSignal* stop) {
  const bool log = options_.connection_callbacks;
  const absl::Time start = absl::Now();
  ExponentialBackoff backoff;
  for (int tries = 1;; ++tries) {
    // As stock RetryState.elapsed_time: taken before the attempt.
    const absl::Duration elapsed = absl::Now() - start;
    absl::Status status = attempt();
    if (status.ok()) {
      if (log && tries > 1) {
        LogInfo(absl::StrFormat("Connection successful after %.2f seconds and %d tries.",
                                absl::ToDoubleSeconds(elapsed), tries));
      }
      return status;
    }
    std::optional<int> max_tries;
    {
      absl::MutexLock lock(&mu_);
      max_tries = max_tries_;
    }
    const bool retryable = options_.retryable && options_.retryable(status);
    if (!retryable || (max_tries.has_value() && tries >= *max_tries) ||
        (options_.max_time.has_value() && elapsed >= *options_.max_time)) {
      if (log && tries > 1) {
        LogWarning(absl::StrFormat("Giving up reconnection after %.2f seconds and %d tries.",
                                   absl::ToDoubleSeconds(elapsed), tries));
      }
      return status;
    }
    absl::Duration wait = RandomUniform(0.0, 1.0) * backoff.Next();  // full_jitter
    if (options_.max_time.has_value()) wait = std::min(wait, *options_.max_time - elapsed);
    std::optional<absl::MutexLock> one_waiter;
    if (log) {
      LogDebug(
          absl::StrCat("Connection attempt failed with exception: ", name, ": ", status.message()));
      one_waiter.emplace(&wait_mu_);
      LogWarning(absl::StrFormat("Connection attempt failed, retrying in %.2f seconds",
                                 absl::ToDoubleSeconds(wait)));
    }
    if (!Wait(wait, stop)) {
      return absl::CancelledError(absl::StrCat(name, " cancelled: stopped while waiting"));
    }
  }
}

}  // namespace flwr::core
