// Concurrent transfers of a message's objects, shared by the SuperNode's Fleet client (from
// the SuperLink) and the app-side Runtime API client (from a SuperNode or SuperLink).
#ifndef FLWR_CORE_OBJECT_PULL_H_
#define FLWR_CORE_OBJECT_PULL_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "flwr/core/inflatable.h"
#include "flwr/proto/message.pb.h"

namespace flwr::core {

// Runs `work(i, stop)` for i in [0, n) on up to `workers` threads (the caller's included), in
// index order of start. `work` returns false to stop the others from starting new items.
template <typename Work>
void RunConcurrently(size_t n, int workers, Work work) {
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  auto loop = [&] {
    while (!stop.load()) {
      const size_t i = next.fetch_add(1);
      if (i >= n) return;
      if (!work(i, stop)) stop.store(true);
    }
  };
  const size_t threads = std::min<size_t>(std::max(workers, 1), n);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(loop);
  loop();
  for (auto& t : pool) t.join();
}

// Pulls one object's bytes; `stop` is set once another pull of the same tree has failed.
using ObjectPuller = std::function<absl::StatusOr<std::string>(const std::string& id,
                                                               const std::atomic<bool>& stop)>;

// Pulls every distinct object of `tree` (post order: children first, the root last) with
// `pull`, up to `workers` at a time. The first error wins, except that a Cancelled one (a pull
// given up because another failed) gives way to the error that caused it.
absl::StatusOr<ObjectContents> PullObjectTree(const proto::ObjectTree& tree, int workers,
                                              const ObjectPuller& pull);

}  // namespace flwr::core

#endif  // FLWR_CORE_OBJECT_PULL_H_
