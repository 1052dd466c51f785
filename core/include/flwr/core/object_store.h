// ObjectStore: the content-addressed store behind PushObject/PullObject, as flwr's
// `flwr.supercore.object_store`. Objects are preregistered as trees (a message's objects are
// announced before their bytes arrive), stored once their bytes hash to their ID, and
// deleted with their unreferenced descendants once the message that holds them is consumed.
#ifndef FLWR_CORE_OBJECT_STORE_H_
#define FLWR_CORE_OBJECT_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/proto/message.pb.h"

namespace flwr::core {

// The database name that selects an in-memory store or state, as flwr's `--database`.
inline constexpr absl::string_view kInMemoryDatabase = ":flwr-in-memory:";

// All methods are thread-safe.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Opens the in-memory store for kInMemoryDatabase, else a SQLite file at `database`
  // (created if missing). Returns Unavailable if the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<ObjectStore>> Open(absl::string_view database);

  // Registers every object of `tree` under `run_id` (children before parents; a new parent
  // references its children). Returns the IDs, in post order, of objects that are new or
  // still lack their bytes: the ones the pusher must send. InvalidArgument for an ID that is
  // not 64 lowercase hex digits (nothing is registered then).
  virtual absl::StatusOr<std::vector<std::string>> Preregister(uint64_t run_id,
                                                               const proto::ObjectTree& tree) = 0;

  // The tree of `object_id` as registered. NotFound if it, or a descendant, is unknown.
  virtual absl::StatusOr<proto::ObjectTree> GetObjectTree(absl::string_view object_id) = 0;

  // Stores the bytes of a preregistered object. InvalidArgument if `content` does not hash to
  // `object_id` or is not a well-formed object; NotFound if the ID was not preregistered.
  // Storing an object that is already available is a no-op.
  virtual absl::Status Put(absl::string_view object_id, std::string content) = 0;

  // The bytes of `object_id`: nullopt if unknown, an empty string if preregistered but not
  // yet available.
  virtual std::optional<std::string> Get(absl::string_view object_id) = 0;

  // Calls `read` with a view of the bytes of `object_id` (empty if not yet available) without
  // copying them, while the store keeps them; false (and no call) if the ID is unknown.
  // `read` must not call back into the store. Default: through Get.
  virtual bool Read(absl::string_view object_id,
                    const std::function<void(absl::string_view)>& read) {
    std::optional<std::string> content = Get(object_id);
    if (!content) return false;
    read(*content);
    return true;
  }

  // Get for an object whose bytes nobody will read again (a reply being forwarded, deleted
  // right after): the in-memory store moves them out instead of copying them, leaving the
  // object not available. Default: Get.
  virtual std::optional<std::string> TakeForForwarding(absl::string_view object_id) {
    return Get(object_id);
  }

  // Deletes `object_id` if no stored object references it, then each child whose last
  // reference that was. Unknown IDs are ignored.
  virtual void Delete(absl::string_view object_id) = 0;

  // Forgets `run_id`'s registrations, deleting its objects no other object references.
  virtual void DeleteObjectsInRun(uint64_t run_id) = 0;

  virtual bool Contains(absl::string_view object_id) = 0;
  virtual size_t Size() = 0;
};

// True if `store` already holds exactly `content` under `object_id`. A push session's
// StoreObject answers a repeated PushObject of such an object "stored": a client that timed
// out on a push the server had completed retries it, and the bytes are already there (stock
// would say "not stored", and the pushing app fails with DATA_LOSS under load).
bool HoldsObject(ObjectStore& store, absl::string_view object_id, absl::string_view content);

// The serialized PullObjectResponse for `object_id`, byte for byte what
// proto::PullObjectResponse::SerializeAsString gives, written straight from the store's bytes
// (one copy of a 5 MiB chunk instead of three: Get, the message, its serialization).
std::string SerializedPullObjectResponse(ObjectStore& store, absl::string_view object_id);
// What it gives for an object preregistered but not available yet: `object_found` only.
inline constexpr absl::string_view kObjectNotAvailableResponse("\x08\x01", 2);

}  // namespace flwr::core

#endif  // FLWR_CORE_OBJECT_STORE_H_
