#include "flwr/core/retry_invoker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "fake_sleep.h"

namespace flwr::core {
namespace {

bool IsUnavailable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable;
}

// An attempt that fails with Unavailable `failures` times, then succeeds.
struct FlakyCall {
  absl::Status operator()() {
    ++tries;
    return tries <= failures ? absl::UnavailableError("down") : absl::OkStatus();
  }
  int failures;
  int tries = 0;
};

TEST(ExponentialBackoffTest, doubles_from_one_second_up_to_the_stock_cap) {
  ExponentialBackoff backoff;
  std::vector<absl::Duration> delays;
  for (int i = 0; i < 7; ++i) delays.push_back(backoff.Next());
  EXPECT_EQ(delays, (std::vector<absl::Duration>{
                        absl::Seconds(1), absl::Seconds(2), absl::Seconds(4), absl::Seconds(8),
                        absl::Seconds(16), absl::Seconds(20), absl::Seconds(20)}));
}

TEST(ExponentialBackoffTest, a_base_above_the_cap_starts_at_the_cap) {
  ExponentialBackoff backoff(absl::Seconds(30), 2, absl::Seconds(10));
  EXPECT_EQ(backoff.Next(), absl::Seconds(10));
  EXPECT_EQ(backoff.Next(), absl::Seconds(10));
}

TEST(RandomUniformTest, draws_stay_in_the_half_open_range) {
  for (int i = 0; i < 10000; ++i) {
    const double x = RandomUniform(-0.1, 0.1);
    ASSERT_GE(x, -0.1);
    ASSERT_LT(x, 0.1);
  }
}

TEST(RetryInvokerTest, retries_until_success_with_full_jitter_of_the_backoff) {
  FakeSleep sleep;
  RetryInvoker invoker({.retryable = IsUnavailable, .sleep = sleep.Hook()});
  FlakyCall call{.failures = 7};
  EXPECT_TRUE(invoker.Invoke("Call", std::ref(call)).ok());
  EXPECT_EQ(call.tries, 8);
  const std::vector<absl::Duration> waits = sleep.Waits();
  ASSERT_EQ(waits.size(), 7u);
  ExponentialBackoff backoff;
  for (absl::Duration wait : waits) {
    EXPECT_GE(wait, absl::ZeroDuration());
    EXPECT_LT(wait, backoff.Next());
  }
}

TEST(RetryInvokerTest, a_status_that_is_not_retryable_returns_at_once) {
  FakeSleep sleep;
  RetryInvoker invoker({.retryable = IsUnavailable, .sleep = sleep.Hook()});
  int tries = 0;
  absl::Status status = invoker.Invoke("Call", [&] {
    ++tries;
    return absl::PermissionDeniedError("not running");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(tries, 1);
  EXPECT_TRUE(sleep.Waits().empty());
}

TEST(RetryInvokerTest, without_a_retryable_predicate_nothing_is_retried) {
  RetryInvoker invoker({});
  FlakyCall call{.failures = 1};
  EXPECT_EQ(invoker.Invoke("Call", std::ref(call)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(call.tries, 1);
}

TEST(RetryInvokerTest, gives_up_after_max_tries_with_the_last_status) {
  FakeSleep sleep;
  RetryInvoker invoker({.retryable = IsUnavailable, .max_tries = 3, .sleep = sleep.Hook()});
  FlakyCall call{.failures = 100};
  EXPECT_EQ(invoker.Invoke("Call", std::ref(call)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(call.tries, 3);
  EXPECT_EQ(sleep.Waits().size(), 2u);
}

TEST(RetryInvokerTest, set_max_tries_limits_later_invocations) {
  FakeSleep sleep;
  RetryInvoker invoker({.retryable = IsUnavailable, .sleep = sleep.Hook()});
  invoker.SetMaxTries(1);
  FlakyCall call{.failures = 1};
  EXPECT_EQ(invoker.Invoke("Call", std::ref(call)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(call.tries, 1);
  invoker.SetMaxTries(std::nullopt);
  EXPECT_TRUE(invoker.Invoke("Call", std::ref(call)).ok());
}

TEST(RetryInvokerTest, a_zero_max_time_allows_one_try) {
  FakeSleep sleep;
  RetryInvoker invoker(
      {.retryable = IsUnavailable, .max_time = absl::ZeroDuration(), .sleep = sleep.Hook()});
  FlakyCall call{.failures = 100};
  EXPECT_EQ(invoker.Invoke("Call", std::ref(call)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(call.tries, 1);
  EXPECT_TRUE(sleep.Waits().empty());
}

TEST(RetryInvokerTest, waits_never_reach_past_max_time) {
  // The hook really sleeps, so the time of each try is at least the sum of the waits before.
  std::vector<absl::Duration> waits;
  const absl::Duration max_time = absl::Milliseconds(50);
  RetryInvoker invoker(
      {.retryable = IsUnavailable, .max_time = max_time, .sleep = [&](absl::Duration d) {
         waits.push_back(d);
         absl::SleepFor(d);
       }});
  FlakyCall call{.failures = 1000000};
  EXPECT_EQ(invoker.Invoke("Call", std::ref(call)).code(), absl::StatusCode::kUnavailable);
  absl::Duration total;
  for (absl::Duration wait : waits) total += wait;
  EXPECT_LE(total, max_time);
  EXPECT_EQ(call.tries, static_cast<int>(waits.size()) + 1);
}

TEST(RetryInvokerTest, a_set_stop_signal_cancels_the_wait) {
  RetryInvoker invoker({.retryable = IsUnavailable});
  StopSignal stop;
  stop.Set();
  FlakyCall call{.failures = 100};
  EXPECT_EQ(invoker.Invoke("Call", std::ref(call), &stop).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(call.tries, 1);
}

TEST(RetryInvokerTest, the_stop_signal_is_checked_after_the_test_hook) {
  StopSignal stop;
  RetryInvoker invoker({.retryable = IsUnavailable, .sleep = [&](absl::Duration) { stop.Set(); }});
  FlakyCall call{.failures = 100};
  EXPECT_EQ(invoker.Invoke("Call", std::ref(call), &stop).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(call.tries, 1);
  EXPECT_TRUE(invoker.Wait(absl::Hours(1)));  // without a signal the hook's wait is complete
}

TEST(RetryInvokerTest, setting_the_stop_signal_ends_a_long_wait) {
  RetryInvoker invoker({});
  StopSignal stop;
  std::thread stopper([&] {
    absl::SleepFor(absl::Milliseconds(20));
    stop.Set();
  });
  EXPECT_FALSE(invoker.Wait(absl::Hours(1), &stop));
  stopper.join();
}

TEST(StopSignalTest, waits_the_full_time_unless_set) {
  StopSignal stop;
  EXPECT_FALSE(stop.IsSet());
  EXPECT_TRUE(stop.WaitFor(absl::Milliseconds(1)));
  stop.Set();
  EXPECT_TRUE(stop.IsSet());
  EXPECT_FALSE(stop.WaitFor(absl::Hours(1)));
}

}  // namespace
}  // namespace flwr::core
