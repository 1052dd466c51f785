// Pieces shared by the ObjectStore implementations; not part of the public API.
#ifndef FLWR_CORE_OBJECT_STORE_INTERNAL_H_
#define FLWR_CORE_OBJECT_STORE_INTERNAL_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "flwr/core/object_store.h"

namespace flwr::core {

std::unique_ptr<ObjectStore> NewInMemoryObjectStore();
absl::StatusOr<std::unique_ptr<ObjectStore>> OpenSqliteObjectStore(absl::string_view path);

// The nodes of `tree` in post order (children first), as flwr's iterate_object_tree.
std::vector<const proto::ObjectTree*> PostOrderNodes(const proto::ObjectTree& tree);

// InvalidArgument unless every node's ID is a valid object ID.
absl::Status CheckTreeIds(const std::vector<const proto::ObjectTree*>& nodes);

// InvalidArgument unless `content` hashes to `object_id` and is a well-formed object.
absl::Status CheckObjectContent(absl::string_view object_id, absl::string_view content);

absl::Status NotPreregistered(absl::string_view object_id);

}  // namespace flwr::core

#endif  // FLWR_CORE_OBJECT_STORE_INTERNAL_H_
