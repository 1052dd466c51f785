#include "flwr/core/object_pull.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace flwr::core {

absl::StatusOr<ObjectContents> PullObjectTree(const proto::ObjectTree& tree, int workers,
                                              const ObjectPuller& pull) {
  std::vector<std::string> ids;
  absl::flat_hash_set<std::string> seen;
  for (std::string& id : ObjectTreePostOrder(tree)) {
    if (seen.insert(id).second) ids.push_back(std::move(id));
  }
  absl::Mutex mu;
  ObjectContents contents;
  absl::Status first_error;
  RunConcurrently(ids.size(), workers, [&](size_t i, const std::atomic<bool>& stop) {
    absl::StatusOr<std::string> content = pull(ids[i], stop);
    absl::MutexLock lock(&mu);
    if (!content.ok()) {
      if (first_error.ok() || first_error.code() == absl::StatusCode::kCancelled) {
        first_error = content.status();
      }
      return false;
    }
    contents.emplace(ids[i], *std::move(content));
    return true;
  });
  if (!first_error.ok()) return first_error;
  return contents;
}

}  // namespace flwr::core
