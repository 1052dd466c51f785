#include "flwr/core/task_store.h"

#include <algorithm>

namespace flwr::core {

// As flwr's acquire_task handler: the pending tasks oldest first, claiming the first eligible
// one that nobody else claims meanwhile.
std::optional<AcquiredTask> TaskStore::AcquireTask(absl::Span<const std::string> task_types,
                                                   absl::Span<const std::string> fab_hashes) {
  auto contains = [](absl::Span<const std::string> values, const std::string& value) {
    return std::find(values.begin(), values.end(), value) != values.end();
  };
  for (proto::Task& task : GetPendingTasks()) {
    if (!contains(task_types, task.type()) && !contains(fab_hashes, task.fab_hash())) {
      continue;
    }
    if (std::optional<std::string> token = ClaimTask(task.task_id())) {
      return AcquiredTask{std::move(task), *std::move(token)};
    }
  }
  return std::nullopt;
}

}  // namespace flwr::core
