#include "flwr/core/task_store.h"

#include <algorithm>

#include "flwr/core/python_compat.h"

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

bool TaskStore::StoreTaskEvents(std::vector<proto::TaskEvent> events) {
  if (events.empty() || !std::all_of(events.begin(), events.end(), [](const proto::TaskEvent& e) {
        return IsStrictJsonObject(e.data());
      })) {
    return false;
  }
  InsertTaskEvents(events);
  return true;
}

bool TaskStore::EventMatches(const proto::TaskEvent& event, absl::Span<const uint64_t> run_ids,
                             absl::Span<const uint64_t> task_ids, uint64_t after_id) {
  return event.id() > after_id &&
         std::find(run_ids.begin(), run_ids.end(), event.run_id()) != run_ids.end() &&
         std::find(task_ids.begin(), task_ids.end(), event.task_id()) != task_ids.end();
}

}  // namespace flwr::core
