// Flower's content-addressed "inflatable objects".
//
// A Message travels as a tree of objects: Message -> RecordDict -> {ArrayRecord -> Array ->
// ArrayChunk, ConfigRecord, MetricRecord}. Each object's content is
//     "<Type> <child-id>,<child-id>,... <body-length>\0<body>"
// and its ID is the lowercase hex SHA-256 of that content. Deflating produces exactly the
// bytes and IDs of the pinned Python `flwr`; inflating validates everything it reads.
#ifndef FLWR_CORE_INFLATABLE_H_
#define FLWR_CORE_INFLATABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/core/message.h"
#include "flwr/core/records.h"
#include "flwr/proto/message.pb.h"

namespace flwr::core {

// Maximum ArrayChunk body, flwr's FLWR_PRIVATE_MAX_ARRAY_CHUNK_SIZE default (5 MiB).
inline constexpr size_t kMaxArrayChunkSize = 5242880;

enum class ObjectType {
  kArrayChunk,
  kArray,
  kArrayRecord,
  kConfigRecord,
  kMetricRecord,
  kRecordDict,
  kMessage,
};

// The class name written in object heads ("ArrayChunk", "Array", ...).
absl::string_view ObjectTypeName(ObjectType type);

// True if `id` is 64 lowercase hex digits, the form of every object ID flwr writes.
bool IsValidObjectId(absl::string_view id);

// SHA-256 of `content`, lowercase hex: the object ID.
std::string ComputeObjectId(absl::string_view content);

// The head of an object's content. `body` views the content passed to ParseObjectHead.
struct ObjectHead {
  ObjectType type;
  std::vector<std::string> children;
  absl::string_view body;
};

// Splits and checks an object's content as flwr's validate_object_content does: a NUL divider
// exists, the head has three space-separated fields, the type is known, every child ID is a
// valid ID, and the body length matches. Returns InvalidArgument otherwise.
absl::StatusOr<ObjectHead> ParseObjectHead(absl::string_view content);

// One deflated object. Its content is `prefix` followed by `borrowed`: an ArrayChunk keeps
// only its head in `prefix` and views its bytes in the deflated Array's data, so deflating a
// large model neither copies nor allocates its tensors a second time.
struct DeflatedObject {
  std::string object_id;
  std::string prefix;
  absl::string_view borrowed;

  size_t content_size() const { return prefix.size() + borrowed.size(); }
  // Appends the content to `out`.
  void AppendContentTo(std::string* out) const {
    out->append(prefix);
    out->append(borrowed.data(), borrowed.size());
  }
  std::string content() const {
    std::string out;
    out.reserve(content_size());
    AppendContentTo(&out);
    return out;
  }
};

// An object and all its descendants, deflated. Valid while the deflated value lives
// unchanged (ArrayChunks view its arrays' data).
struct ObjectBundle {
  // The tree of object IDs, rooted at the deflated object, as flwr's get_object_tree:
  // each node lists its distinct children in first-reference order.
  proto::ObjectTree tree;
  // Every distinct object once, children before parents, in the order of flwr's
  // get_all_nested_objects; the root object is last.
  std::vector<DeflatedObject> objects;

  const std::string& root_id() const { return tree.object_id(); }
};

// Deflate functions return InvalidArgument for values flwr could not deflate (keys or
// strings that are not UTF-8, a message with both or neither of content and error).
// `metadata.message_id` is not part of a message's content (flwr blanks it before hashing).
absl::StatusOr<ObjectBundle> DeflateMessage(const Message& message);
absl::StatusOr<ObjectBundle> DeflateRecordDict(const RecordDict& record_dict);
absl::StatusOr<ObjectBundle> DeflateArrayRecord(const ArrayRecord& record);
absl::StatusOr<ObjectBundle> DeflateArray(const Array& array);
absl::StatusOr<ObjectBundle> DeflateConfigRecord(const ConfigRecord& record);
absl::StatusOr<ObjectBundle> DeflateMetricRecord(const MetricRecord& record);
// A bundle views the arrays of the value it was made from: deflating a temporary would
// leave it dangling.
absl::StatusOr<ObjectBundle> DeflateMessage(Message&&) = delete;
absl::StatusOr<ObjectBundle> DeflateRecordDict(RecordDict&&) = delete;
absl::StatusOr<ObjectBundle> DeflateArrayRecord(ArrayRecord&&) = delete;
absl::StatusOr<ObjectBundle> DeflateArray(Array&&) = delete;

// The object ID a message gets when deflated (its `message_id` on the wire).
absl::StatusOr<std::string> ComputeMessageId(const Message& message);

// Object contents by object ID, as pulled from a peer.
using ObjectContents = absl::flat_hash_map<std::string, std::string>;

struct InflateOptions {
  // Upper bound on the bytes of array data an inflated object may hold in total; a tree
  // that references one chunk many times cannot make the inflater allocate beyond it.
  uint64_t max_total_bytes = uint64_t{4} << 30;
  // Upper bound on the values an inflated object holds in total (arrays, record entries),
  // counted per reference: a tree whose records reference one another many times cannot make
  // the inflater build a quadratic number of copies.
  uint64_t max_elements = 1'000'000;
  // Check that each content hashes to the ID it is stored under.
  bool verify_object_ids = true;
};

// Inflate functions rebuild a value from `objects`, starting at `object_id`. They return
// NotFound if an object of the tree is missing; InvalidArgument if an object's content does
// not hash to its ID, its head or body is malformed, its type is not the one its parent
// needs, or its children do not match the IDs its body references; ResourceExhausted if
// the result would exceed `options.max_total_bytes` or `options.max_elements`. The inflated
// message's `metadata.message_id` is what its content holds (empty, as flwr deflates it).
absl::StatusOr<Message> InflateMessage(absl::string_view object_id, const ObjectContents& objects,
                                       const InflateOptions& options = {});
absl::StatusOr<RecordDict> InflateRecordDict(absl::string_view object_id,
                                             const ObjectContents& objects,
                                             const InflateOptions& options = {});
absl::StatusOr<ArrayRecord> InflateArrayRecord(absl::string_view object_id,
                                               const ObjectContents& objects,
                                               const InflateOptions& options = {});
absl::StatusOr<Array> InflateArray(absl::string_view object_id, const ObjectContents& objects,
                                   const InflateOptions& options = {});
absl::StatusOr<ConfigRecord> InflateConfigRecord(absl::string_view object_id,
                                                 const ObjectContents& objects,
                                                 const InflateOptions& options = {});
absl::StatusOr<MetricRecord> InflateMetricRecord(absl::string_view object_id,
                                                 const ObjectContents& objects,
                                                 const InflateOptions& options = {});

// Returns the object IDs of `tree` in post order (children before parents), as flwr's
// iterate_object_tree, with repeats where the tree repeats them.
std::vector<std::string> ObjectTreePostOrder(const proto::ObjectTree& tree);

}  // namespace flwr::core

#endif  // FLWR_CORE_INFLATABLE_H_
