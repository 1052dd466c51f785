// A test hook for the `sleep` option of RetryInvoker and HeartbeatSender: records the waits it
// is asked for instead of waiting, so that backoff and heartbeat schedules are checked at once.
#ifndef FLWR_TESTS_UNIT_FAKE_SLEEP_H_
#define FLWR_TESTS_UNIT_FAKE_SLEEP_H_

#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace flwr::core {

// Thread-safe; must outlive the hooks it hands out.
class FakeSleep {
 public:
  std::function<void(absl::Duration)> Hook() {
    return [this](absl::Duration d) {
      absl::MutexLock lock(&mu_);
      waits_.push_back(d);
    };
  }
  // The waits asked for so far, in order.
  std::vector<absl::Duration> Waits() {
    absl::MutexLock lock(&mu_);
    return waits_;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Duration> waits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace flwr::core

#endif  // FLWR_TESTS_UNIT_FAKE_SLEEP_H_
