#include "flwr/core/object_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/inflatable.h"
#include "object_store_internal.h"

namespace flwr::core {
namespace {

void AppendPostOrder(const proto::ObjectTree& tree, std::vector<const proto::ObjectTree*>* out) {
  for (const auto& child : tree.children()) AppendPostOrder(child, out);
  out->push_back(&tree);
}

}  // namespace

bool HoldsObject(ObjectStore& store, absl::string_view object_id, absl::string_view content) {
  if (content.empty()) return false;
  std::optional<std::string> held = store.Get(object_id);
  return held.has_value() && *held == content;
}

std::string SerializedPullObjectResponse(ObjectStore& store, absl::string_view object_id) {
  // PullObjectResponse: object_found = 1 (bool), object_available = 2 (bool),
  // object_content = 3 (bytes); proto3 leaves out false and empty fields.
  std::string out;
  store.Read(object_id, [&out](absl::string_view content) {
    out.reserve(content.size() + 16);
    out.append("\x08\x01", 2);
    if (content.empty()) return;
    out.append("\x10\x01\x1a", 3);
    for (uint64_t n = content.size(); true; n >>= 7) {
      if (n < 0x80) {
        out.push_back(static_cast<char>(n));
        break;
      }
      out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    }
    out.append(content.data(), content.size());
  });
  return out;
}

absl::StatusOr<std::unique_ptr<ObjectStore>> ObjectStore::Open(absl::string_view database) {
  if (database == kInMemoryDatabase) return NewInMemoryObjectStore();
  return OpenSqliteObjectStore(database);
}

std::vector<const proto::ObjectTree*> PostOrderNodes(const proto::ObjectTree& tree) {
  std::vector<const proto::ObjectTree*> out;
  AppendPostOrder(tree, &out);
  return out;
}

absl::Status CheckTreeIds(const std::vector<const proto::ObjectTree*>& nodes) {
  for (const proto::ObjectTree* node : nodes) {
    if (!IsValidObjectId(node->object_id())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid object ID format: ", absl::CHexEscape(node->object_id().substr(0, 80))));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckObjectContent(absl::string_view object_id, absl::string_view content) {
  if (ComputeObjectId(content) != object_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("Object ID ", object_id, " does not match content hash"));
  }
  absl::StatusOr<ObjectHead> head = ParseObjectHead(content);
  if (!head.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Object with ID '", object_id, "' has an unexpected structure. ", head.status().message()));
  }
  return absl::OkStatus();
}

absl::Status NotPreregistered(absl::string_view object_id) {
  return absl::NotFoundError(
      absl::StrCat("Object with ID '", object_id, "' was not pre-registered."));
}

}  // namespace flwr::core
