#include "flwr/core/heartbeat_sender.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "fake_sleep.h"

namespace flwr::core {
namespace {

// A sender whose `send` answers from a script and whose waits are recorded, not waited.
class ScriptedHeartbeat {
 public:
  explicit ScriptedHeartbeat(std::deque<absl::Status> answers) : answers_(std::move(answers)) {}

  HeartbeatSenderOptions Options() {
    return {.send =
                [this](const StopSignal&) {
                  absl::MutexLock lock(&mu_);
                  absl::Status answer = answers_.front();
                  answers_.pop_front();
                  return answer;
                },
            .on_error =
                [this](const absl::Status&) {
                  errors.fetch_add(1);
                  ended.Notify();
                },
            .sleep = sleep_.Hook()};
  }

  std::vector<absl::Duration> waits() { return sleep_.Waits(); }

  absl::Notification ended;
  std::atomic<int> errors{0};

 private:
  absl::Mutex mu_;
  std::deque<absl::Status> answers_ ABSL_GUARDED_BY(mu_);
  FakeSleep sleep_;
};

void ExpectStockInterval(absl::Duration wait) {
  EXPECT_GE(wait, absl::Seconds(17.5));
  EXPECT_LE(wait, absl::Seconds(22.5));
}

TEST(HeartbeatSenderTest, sends_at_once_then_every_stock_interval_until_an_error) {
  ScriptedHeartbeat script({absl::OkStatus(), absl::OkStatus(), absl::OkStatus(),
                            absl::FailedPreconditionError("unknown node")});
  HeartbeatSender sender(script.Options());
  ASSERT_TRUE(sender.Start().ok());
  ASSERT_TRUE(script.ended.WaitForNotificationWithTimeout(absl::Seconds(30)));
  sender.Stop();
  EXPECT_EQ(sender.sent(), 3);
  EXPECT_EQ(sender.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(script.errors.load(), 1);
  const std::vector<absl::Duration> waits = script.waits();
  ASSERT_EQ(waits.size(), 3u);
  for (absl::Duration wait : waits) ExpectStockInterval(wait);
}

TEST(HeartbeatSenderTest, retries_heartbeat_failures_with_the_backoff) {
  ScriptedHeartbeat script({absl::UnavailableError("down"), absl::DeadlineExceededError("slow"),
                            absl::OkStatus(), absl::InternalError("broken")});
  HeartbeatSender sender(script.Options());
  ASSERT_TRUE(sender.Start().ok());
  ASSERT_TRUE(script.ended.WaitForNotificationWithTimeout(absl::Seconds(30)));
  sender.Stop();
  EXPECT_EQ(sender.sent(), 1);
  EXPECT_EQ(sender.status().code(), absl::StatusCode::kInternal);
  const std::vector<absl::Duration> waits = script.waits();
  ASSERT_EQ(waits.size(), 3u);
  EXPECT_LT(waits[0], absl::Seconds(1));
  EXPECT_LT(waits[1], absl::Seconds(2));
  ExpectStockInterval(waits[2]);
}

TEST(HeartbeatSenderTest, stop_ends_the_interval_wait_without_an_error) {
  std::atomic<int> errors{0};
  HeartbeatSender sender({.send = [](const StopSignal&) { return absl::OkStatus(); },
                          .on_error = [&](const absl::Status&) { errors.fetch_add(1); }});
  ASSERT_TRUE(sender.Start().ok());
  for (int i = 0; i < 3000 && sender.sent() == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  sender.Stop();  // returns long before the 17.5 s interval
  EXPECT_EQ(sender.sent(), 1);
  EXPECT_TRUE(sender.status().ok());
  EXPECT_EQ(errors.load(), 0);
}

TEST(HeartbeatSenderTest, stop_reaches_a_send_in_progress) {
  absl::Notification sending;
  HeartbeatSender sender({.send = [&](const StopSignal& stop) {
    sending.Notify();
    stop.WaitFor(absl::Hours(1));
    return absl::CancelledError("stopped");
  }});
  ASSERT_TRUE(sender.Start().ok());
  sending.WaitForNotification();
  sender.Stop();
  EXPECT_EQ(sender.sent(), 0);
  EXPECT_TRUE(sender.status().ok());
}

TEST(HeartbeatSenderTest, starts_once) {
  HeartbeatSender sender({.send = [](const StopSignal&) { return absl::OkStatus(); }});
  ASSERT_TRUE(sender.Start().ok());
  EXPECT_EQ(sender.Start().code(), absl::StatusCode::kFailedPrecondition);
  sender.Stop();
  EXPECT_EQ(sender.Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(HeartbeatFailureTest, only_unavailable_and_deadline_exceeded_are_retried) {
  EXPECT_TRUE(IsHeartbeatFailure(absl::UnavailableError("")));
  EXPECT_TRUE(IsHeartbeatFailure(absl::DeadlineExceededError("")));
  EXPECT_FALSE(IsHeartbeatFailure(absl::UnauthenticatedError("")));
  EXPECT_FALSE(IsHeartbeatFailure(absl::PermissionDeniedError("")));
  EXPECT_FALSE(IsHeartbeatFailure(absl::OkStatus()));
}

}  // namespace
}  // namespace flwr::core
