#include "flwr/core/inflatable.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/python_compat.h"
#include "flwr/core/sha256.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "nlohmann/json.hpp"

namespace flwr::core {
namespace {

constexpr char kHeadBodyDivider = '\0';
constexpr char kHeadValueDivider = ' ';

constexpr std::pair<ObjectType, absl::string_view> kTypeNames[] = {
    {ObjectType::kArrayChunk, "ArrayChunk"},     {ObjectType::kArray, "Array"},
    {ObjectType::kArrayRecord, "ArrayRecord"},   {ObjectType::kConfigRecord, "ConfigRecord"},
    {ObjectType::kMetricRecord, "MetricRecord"}, {ObjectType::kRecordDict, "RecordDict"},
    {ObjectType::kMessage, "Message"},
};

std::optional<ObjectType> ObjectTypeFromName(absl::string_view name) {
  for (const auto& [type, type_name] : kTypeNames) {
    if (type_name == name) return type;
  }
  return std::nullopt;
}

std::string MakeHead(ObjectType type, const std::vector<std::string>& children, size_t body_size) {
  return absl::StrCat(ObjectTypeName(type), absl::string_view(&kHeadValueDivider, 1),
                      absl::StrJoin(children, ","), absl::string_view(&kHeadValueDivider, 1),
                      body_size, absl::string_view(&kHeadBodyDivider, 1));
}

// Appends the distinct values of `ids` to `out` in first-occurrence order (a Python dict's
// keys) and returns, for each entry of `ids`, its index among them.
std::vector<size_t> Deduplicate(const std::vector<std::string>& ids,
                                std::vector<std::string>* out) {
  absl::flat_hash_map<absl::string_view, size_t> index;
  std::vector<size_t> positions;
  positions.reserve(ids.size());
  for (const std::string& id : ids) {
    auto [it, inserted] = index.emplace(id, out->size());
    if (inserted) out->push_back(id);
    positions.push_back(it->second);
  }
  return positions;
}

DeflatedObject MakeChunk(absl::string_view slice) {
  std::string head = MakeHead(ObjectType::kArrayChunk, {}, slice.size());
  std::string id = Sha256Hex({absl::string_view(head), slice});
  return {std::move(id), std::move(head), slice};
}

// Hashing ArrayChunks is nearly all the cost of deflating a large model, and chunks are
// independent: ChunkHasher deflates every chunk of a set of arrays on all cores up front.
// Chunks are keyed by the address of their first byte inside the Array they slice.
class ChunkHasher {
 public:
  // Below this many bytes of array data threads cost more than they save.
  static constexpr size_t kParallelThreshold = 2 * kMaxArrayChunkSize;

  explicit ChunkHasher(const std::vector<const core::Array*>& arrays) {
    std::vector<absl::string_view> slices;
    size_t total = 0;
    for (const core::Array* array : arrays) {
      absl::string_view data = array->data;
      for (size_t start = 0; start < data.size(); start += kMaxArrayChunkSize) {
        slices.push_back(data.substr(start, kMaxArrayChunkSize));
      }
      total += data.size();
    }
    const size_t threads = std::min<size_t>(slices.size(), std::thread::hardware_concurrency());
    if (total < kParallelThreshold || threads < 2) return;
    std::vector<DeflatedObject> chunks(slices.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < slices.size();) chunks[i] = MakeChunk(slices[i]);
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (std::thread& thread : pool) thread.join();
    for (size_t i = 0; i < slices.size(); ++i) by_start_[slices[i].data()] = std::move(chunks[i]);
  }

  // Returns the precomputed chunk starting at `slice.data()`, or deflates it now.
  DeflatedObject Take(absl::string_view slice) {
    auto it = by_start_.find(slice.data());
    if (it == by_start_.end()) return MakeChunk(slice);
    DeflatedObject out = std::move(it->second);
    by_start_.erase(it);
    return out;
  }

 private:
  absl::flat_hash_map<const char*, DeflatedObject> by_start_;
};

void CollectArrays(const core::Array& array, std::vector<const core::Array*>* out) {
  out->push_back(&array);
}
void CollectArrays(const ArrayRecord& record, std::vector<const core::Array*>* out) {
  for (const auto& [name, array] : record) out->push_back(&array);
}
void CollectArrays(const ConfigRecord&, std::vector<const core::Array*>*) {}
void CollectArrays(const MetricRecord&, std::vector<const core::Array*>*) {}
void CollectArrays(const RecordDict& record_dict, std::vector<const core::Array*>* out) {
  for (const auto& [name, record] : record_dict) {
    std::visit([&](const auto& r) { CollectArrays(r, out); }, record);
  }
}
void CollectArrays(const Message& message, std::vector<const core::Array*>* out) {
  if (message.content) CollectArrays(*message.content, out);
}

// Builds an ObjectBundle depth first. Each method deflates one value into `node` (the value's
// place in the object tree) and returns the value's object ID.
class Deflater {
 public:
  explicit Deflater(ChunkHasher* chunks) : chunks_(chunks) {}

  absl::StatusOr<std::string> Message(const core::Message& message, proto::ObjectTree* node) {
    if (message.content.has_value() == message.error.has_value()) {
      return absl::InvalidArgumentError("a message holds either content or an error");
    }
    std::vector<std::string> children;
    if (message.content) {
      auto child = RecordDict(*message.content, node->add_children());
      if (!child.ok()) return child.status();
      children.push_back(*std::move(child));
    }
    proto::Message body;
    *body.mutable_metadata() = MetadataToProto(message.metadata);
    body.mutable_metadata()->clear_message_id();
    if (message.error) *body.mutable_error() = ErrorToProto(*message.error);
    return Emit(ObjectType::kMessage, children, SerializeDeterministic(body), node);
  }

  absl::StatusOr<std::string> RecordDict(const core::RecordDict& record_dict,
                                         proto::ObjectTree* node) {
    std::vector<std::pair<absl::string_view, std::string>> refs;
    std::vector<std::string> ids;
    absl::flat_hash_set<std::string> distinct;
    for (const auto& [name, record] : record_dict) {
      proto::ObjectTree child_node;
      auto id = std::visit(
          [&](const auto& r) -> absl::StatusOr<std::string> { return Record(r, &child_node); },
          record);
      if (!id.ok()) return id.status();
      if (distinct.insert(*id).second) *node->add_children() = std::move(child_node);
      ids.push_back(*id);
      refs.emplace_back(name, *std::move(id));
    }
    return EmitRefs(ObjectType::kRecordDict, refs, ids, node);
  }

  absl::StatusOr<std::string> Record(const ArrayRecord& record, proto::ObjectTree* node) {
    std::vector<std::pair<absl::string_view, std::string>> refs;
    std::vector<std::string> ids;
    absl::flat_hash_set<std::string> distinct;
    for (const auto& [name, array] : record) {
      proto::ObjectTree child_node;
      auto id = Array(array, &child_node);
      if (!id.ok()) return id.status();
      if (distinct.insert(*id).second) *node->add_children() = std::move(child_node);
      ids.push_back(*id);
      refs.emplace_back(name, *std::move(id));
    }
    return EmitRefs(ObjectType::kArrayRecord, refs, ids, node);
  }

  absl::StatusOr<std::string> Record(const ConfigRecord& record, proto::ObjectTree* node) {
    auto body = ConfigRecordToProto(record);
    if (!body.ok()) return body.status();
    return Emit(ObjectType::kConfigRecord, {}, body->SerializeAsString(), node);
  }

  absl::StatusOr<std::string> Record(const MetricRecord& record, proto::ObjectTree* node) {
    auto body = MetricRecordToProto(record);
    if (!body.ok()) return body.status();
    return Emit(ObjectType::kMetricRecord, {}, body->SerializeAsString(), node);
  }

  absl::StatusOr<std::string> Array(const core::Array& array, proto::ObjectTree* node) {
    std::vector<std::string> chunk_ids;
    absl::string_view data = array.data;
    for (size_t start = 0; start < data.size(); start += kMaxArrayChunkSize) {
      absl::string_view slice = data.substr(start, kMaxArrayChunkSize);
      chunk_ids.push_back(EmitChunk(slice));
    }
    std::vector<std::string> children;
    std::vector<size_t> positions = Deduplicate(chunk_ids, &children);
    for (const std::string& id : children) node->add_children()->set_object_id(id);

    if (!CheckUtf8(array.dtype).ok() || !CheckUtf8(array.stype).ok()) {
      return absl::InvalidArgumentError("string is not valid UTF-8");
    }
    // json.dumps(dict) by hand: Python separates with ", " and ": ".
    std::string body =
        absl::StrCat("{\"dtype\": ", PythonJsonString(array.dtype), ", \"shape\": [");
    for (size_t i = 0; i < array.shape.size(); ++i) {
      absl::StrAppend(&body, i ? ", " : "", array.shape[i]);
    }
    absl::StrAppend(&body, "], \"stype\": ", PythonJsonString(array.stype),
                    ", \"arraychunk_ids\": [");
    for (size_t i = 0; i < positions.size(); ++i)
      absl::StrAppend(&body, i ? ", " : "", positions[i]);
    body.append("]}");
    return Emit(ObjectType::kArray, children, body, node);
  }

  ObjectBundle Finish(proto::ObjectTree tree) {
    return ObjectBundle{std::move(tree), std::move(objects_)};
  }

 private:
  std::string EmitChunk(absl::string_view slice) {
    DeflatedObject chunk = chunks_->Take(slice);
    std::string id = chunk.object_id;
    Store(std::move(chunk));
    return id;
  }

  // Writes a JSON body {"name": "object-id", ...} of records or arrays.
  absl::StatusOr<std::string> EmitRefs(
      ObjectType type, const std::vector<std::pair<absl::string_view, std::string>>& refs,
      const std::vector<std::string>& ids, proto::ObjectTree* node) {
    std::string body = "{";
    for (size_t i = 0; i < refs.size(); ++i) {
      if (i) body.append(", ");
      if (!CheckUtf8(refs[i].first).ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(ObjectTypeName(type), " key is not valid UTF-8"));
      }
      absl::StrAppend(&body, PythonJsonString(refs[i].first), ": \"", refs[i].second, "\"");
    }
    body.append("}");
    std::vector<std::string> children;
    Deduplicate(ids, &children);
    return Emit(type, children, body, node);
  }

  std::string Emit(ObjectType type, const std::vector<std::string>& children,
                   absl::string_view body, proto::ObjectTree* node) {
    std::string content = MakeHead(type, children, body.size());
    content.append(body.data(), body.size());
    std::string id = ComputeObjectId(content);
    node->set_object_id(id);
    Store({id, std::move(content), {}});
    return id;
  }

  void Store(DeflatedObject object) {
    if (seen_.insert(object.object_id).second) objects_.push_back(std::move(object));
  }

  ChunkHasher* chunks_;
  absl::flat_hash_set<std::string> seen_;
  std::vector<DeflatedObject> objects_;
};

template <typename T, typename Fn>
absl::StatusOr<ObjectBundle> RunDeflater(const T& value, Fn fn) {
  std::vector<const core::Array*> arrays;
  CollectArrays(value, &arrays);
  ChunkHasher chunks(arrays);
  Deflater deflater(&chunks);
  proto::ObjectTree tree;
  absl::StatusOr<std::string> id = fn(deflater, &tree);
  if (!id.ok()) return id.status();
  return deflater.Finish(std::move(tree));
}

absl::Status Invalid(absl::string_view id, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("object ", id, ": ", what));
}

// Rebuilds values from object contents, validating each object it reads.
class Inflater {
 public:
  Inflater(const ObjectContents& objects, const InflateOptions& options)
      : objects_(objects), options_(options) {}

  absl::StatusOr<core::Message> Message(absl::string_view id) {
    auto head = Load(id, ObjectType::kMessage);
    if (!head.ok()) return head.status();
    proto::Message body;
    if (!body.ParseFromArray(head->body.data(), static_cast<int>(head->body.size()))) {
      return Invalid(id, "Message body is not a flwr.proto.Message");
    }
    if (body.has_content()) return Invalid(id, "Message body must not embed its content");
    core::Message out;
    out.metadata = MetadataFromProto(body.metadata());
    if (body.has_error()) {
      if (!head->children.empty()) return Invalid(id, "a Message with an error has children");
      out.error = ErrorFromProto(body.error());
      return out;
    }
    if (head->children.size() != 1) {
      return Invalid(id, "a Message without an error must have exactly one child");
    }
    auto content = RecordDict(head->children[0]);
    if (!content.ok()) return content.status();
    out.content = *std::move(content);
    return out;
  }

  absl::StatusOr<core::RecordDict> RecordDict(absl::string_view id) {
    auto head = Load(id, ObjectType::kRecordDict);
    if (!head.ok()) return head.status();
    auto refs = ParseRefs(id, *head);
    if (!refs.ok()) return refs.status();
    if (absl::Status s = CountElements(refs->size()); !s.ok()) return s;
    core::RecordDict out;
    for (auto& [name, child_id] : *refs) {
      auto child = LoadAny(child_id);
      if (!child.ok()) return child.status();
      switch (child->type) {
        case ObjectType::kArrayRecord: {
          auto r = ArrayRecord(child_id);
          if (!r.ok()) return r.status();
          out.Set(name, *std::move(r));
          break;
        }
        case ObjectType::kConfigRecord: {
          auto r = ConfigRecord(child_id);
          if (!r.ok()) return r.status();
          out.Set(name, *std::move(r));
          break;
        }
        case ObjectType::kMetricRecord: {
          auto r = MetricRecord(child_id);
          if (!r.ok()) return r.status();
          out.Set(name, *std::move(r));
          break;
        }
        default:
          return Invalid(child_id,
                         absl::StrCat("a RecordDict cannot hold a ", ObjectTypeName(child->type)));
      }
    }
    return out;
  }

  absl::StatusOr<core::ConfigRecord> ConfigRecord(absl::string_view id) {
    auto head = Load(id, ObjectType::kConfigRecord);
    if (!head.ok()) return head.status();
    return ProtoRecord<proto::ConfigRecord, core::ConfigRecord>(id, *head, ConfigRecordFromProto);
  }

  absl::StatusOr<core::MetricRecord> MetricRecord(absl::string_view id) {
    auto head = Load(id, ObjectType::kMetricRecord);
    if (!head.ok()) return head.status();
    return ProtoRecord<proto::MetricRecord, core::MetricRecord>(id, *head, MetricRecordFromProto);
  }

  absl::StatusOr<core::ArrayRecord> ArrayRecord(absl::string_view id) {
    auto head = Load(id, ObjectType::kArrayRecord);
    if (!head.ok()) return head.status();
    auto refs = ParseRefs(id, *head);
    if (!refs.ok()) return refs.status();
    if (absl::Status s = CountElements(refs->size()); !s.ok()) return s;
    core::ArrayRecord out;
    for (auto& [name, child_id] : *refs) {
      auto array = Array(child_id);
      if (!array.ok()) return array.status();
      out.Set(name, *std::move(array));
    }
    return out;
  }

  absl::StatusOr<core::Array> Array(absl::string_view id) {
    auto head = Load(id, ObjectType::kArray);
    if (!head.ok()) return head.status();
    if (absl::Status s = CountElements(1); !s.ok()) return s;
    auto body = nlohmann::ordered_json::parse(head->body.begin(), head->body.end(), nullptr,
                                              /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object() || body.size() != 4) {
      return Invalid(id, "Array body is not a JSON object of 4 fields");
    }
    core::Array out;
    auto dtype = body.find("dtype");
    auto shape = body.find("shape");
    auto stype = body.find("stype");
    auto chunks = body.find("arraychunk_ids");
    if (dtype == body.end() || !dtype->is_string() || stype == body.end() || !stype->is_string() ||
        shape == body.end() || !shape->is_array() || chunks == body.end() || !chunks->is_array()) {
      return Invalid(id, "Array body lacks dtype, shape, stype or arraychunk_ids");
    }
    out.dtype = dtype->get<std::string>();
    out.stype = stype->get<std::string>();
    for (const auto& dim : *shape) {
      if (!dim.is_number_integer() ||
          (dim.is_number_unsigned() && dim.get<uint64_t>() > INT64_MAX)) {
        return Invalid(id, "Array shape holds a value that is not an int64");
      }
      out.shape.push_back(dim.get<int64_t>());
    }
    // Resolve chunk references and check the size before allocating anything.
    std::vector<absl::string_view> slices;
    std::vector<bool> referenced(head->children.size(), false);
    uint64_t total = 0;
    for (const auto& index : *chunks) {
      if (!index.is_number_unsigned() || index.get<uint64_t>() >= head->children.size()) {
        return Invalid(id, "Array references a chunk index out of range");
      }
      const size_t i = index.get<size_t>();
      referenced[i] = true;
      auto chunk = Load(head->children[i], ObjectType::kArrayChunk);
      if (!chunk.ok()) return chunk.status();
      if (!chunk->children.empty()) return Invalid(head->children[i], "ArrayChunk has children");
      total += chunk->body.size();
      if (absl::Status s = Spend(chunk->body.size()); !s.ok()) return s;
      slices.push_back(chunk->body);
    }
    if (std::find(referenced.begin(), referenced.end(), false) != referenced.end()) {
      return Invalid(id, "Array has a child it does not reference");
    }
    std::string data;
    data.reserve(total);
    for (absl::string_view slice : slices) data.append(slice.data(), slice.size());
    out.data = std::move(data);
    return out;
  }

 private:
  absl::Status CountElements(uint64_t n) {
    if (n > options_.max_elements - elements_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("inflated object exceeds the limit of ", options_.max_elements, " values"));
    }
    elements_ += n;
    return absl::OkStatus();
  }

  absl::Status Spend(uint64_t bytes) {
    if (bytes > options_.max_total_bytes - spent_) {
      return absl::ResourceExhaustedError(absl::StrCat("inflated object exceeds the limit of ",
                                                       options_.max_total_bytes, " bytes"));
    }
    spent_ += bytes;
    return absl::OkStatus();
  }

  // Finds, verifies and parses the object `id`, whatever its type.
  absl::StatusOr<ObjectHead> LoadAny(absl::string_view id) {
    auto it = objects_.find(id);
    if (it == objects_.end()) {
      return absl::NotFoundError(absl::StrCat("object ", id, " is missing"));
    }
    if (options_.verify_object_ids && !verified_.contains(id)) {
      if (ComputeObjectId(it->second) != id) {
        return Invalid(id, "content does not hash to the object ID");
      }
      verified_.insert(std::string(id));
    }
    auto head = ParseObjectHead(it->second);
    if (!head.ok()) return Invalid(id, head.status().message());
    return head;
  }

  absl::StatusOr<ObjectHead> Load(absl::string_view id, ObjectType expected) {
    auto head = LoadAny(id);
    if (!head.ok()) return head.status();
    if (head->type != expected) {
      return Invalid(id, absl::StrCat("is a ", ObjectTypeName(head->type), ", expected a ",
                                      ObjectTypeName(expected)));
    }
    return head;
  }

  // Parses a body {"name": "object-id", ...} whose distinct IDs must be the head's children.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseRefs(
      absl::string_view id, const ObjectHead& head) {
    auto body = nlohmann::ordered_json::parse(head.body.begin(), head.body.end(), nullptr,
                                              /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      return Invalid(id, absl::StrCat(ObjectTypeName(head.type), " body is not a JSON object"));
    }
    std::vector<std::pair<std::string, std::string>> refs;
    absl::flat_hash_set<std::string> referenced;
    for (const auto& [name, value] : body.items()) {
      if (!value.is_string()) return Invalid(id, "a reference is not a string");
      refs.emplace_back(name, value.get<std::string>());
      referenced.insert(refs.back().second);
    }
    absl::flat_hash_set<std::string> children(head.children.begin(), head.children.end());
    if (referenced != children) {
      return Invalid(id, "children do not match the IDs its body references");
    }
    return refs;
  }

  template <typename Proto, typename Record, typename Convert>
  absl::StatusOr<Record> ProtoRecord(absl::string_view id, const ObjectHead& head,
                                     Convert convert) {
    if (!head.children.empty()) return Invalid(id, "a record of values has children");
    Proto proto;
    if (!proto.ParseFromArray(head.body.data(), static_cast<int>(head.body.size()))) {
      return Invalid(id, absl::StrCat(ObjectTypeName(head.type), " body is not protobuf"));
    }
    if (absl::Status s = CountElements(proto.items_size()); !s.ok()) return s;
    auto record = convert(proto);
    if (!record.ok()) return Invalid(id, record.status().message());
    return record;
  }

  const ObjectContents& objects_;
  const InflateOptions& options_;
  absl::flat_hash_set<std::string> verified_;
  uint64_t spent_ = 0;
  uint64_t elements_ = 0;
};

void AppendPostOrder(const proto::ObjectTree& tree, std::vector<std::string>* out) {
  for (const auto& child : tree.children()) AppendPostOrder(child, out);
  out->push_back(tree.object_id());
}

}  // namespace

absl::string_view ObjectTypeName(ObjectType type) {
  for (const auto& [t, name] : kTypeNames) {
    if (t == type) return name;
  }
  return "?";
}

bool IsValidObjectId(absl::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string ComputeObjectId(absl::string_view content) { return Sha256Hex(content); }

absl::StatusOr<ObjectHead> ParseObjectHead(absl::string_view content) {
  const size_t divider = content.find(kHeadBodyDivider);
  if (divider == absl::string_view::npos) {
    return absl::InvalidArgumentError("object content has no head-body divider");
  }
  std::vector<absl::string_view> parts =
      absl::StrSplit(content.substr(0, divider), kHeadValueDivider);
  if (parts.size() != 3) return absl::InvalidArgumentError("object head is not 3 fields");
  std::optional<ObjectType> type = ObjectTypeFromName(parts[0]);
  if (!type) {
    return absl::InvalidArgumentError(
        absl::StrCat("object type '", absl::CHexEscape(parts[0]), "' is not supported"));
  }
  ObjectHead head{*type, {}, content.substr(divider + 1)};
  if (!parts[1].empty()) {
    for (absl::string_view child : absl::StrSplit(parts[1], ',')) {
      if (!IsValidObjectId(child)) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid child object ID '", absl::CHexEscape(child.substr(0, 80)), "'"));
      }
      head.children.emplace_back(child);
    }
  }
  uint64_t body_len = 0;
  if (parts[2].empty() || parts[2].size() > 20 ||
      !std::all_of(parts[2].begin(), parts[2].end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(parts[2], &body_len)) {
    return absl::InvalidArgumentError("object head has an invalid body length");
  }
  if (body_len != head.body.size()) {
    return absl::InvalidArgumentError(absl::StrCat("object body holds ", head.body.size(),
                                                   " bytes but its head says ", body_len));
  }
  return head;
}

absl::StatusOr<ObjectBundle> DeflateMessage(const Message& message) {
  return RunDeflater(message,
                     [&](Deflater& d, proto::ObjectTree* t) { return d.Message(message, t); });
}
absl::StatusOr<ObjectBundle> DeflateRecordDict(const RecordDict& record_dict) {
  return RunDeflater(
      record_dict, [&](Deflater& d, proto::ObjectTree* t) { return d.RecordDict(record_dict, t); });
}
absl::StatusOr<ObjectBundle> DeflateArrayRecord(const ArrayRecord& record) {
  return RunDeflater(record,
                     [&](Deflater& d, proto::ObjectTree* t) { return d.Record(record, t); });
}
absl::StatusOr<ObjectBundle> DeflateArray(const Array& array) {
  return RunDeflater(array, [&](Deflater& d, proto::ObjectTree* t) { return d.Array(array, t); });
}
absl::StatusOr<ObjectBundle> DeflateConfigRecord(const ConfigRecord& record) {
  return RunDeflater(record,
                     [&](Deflater& d, proto::ObjectTree* t) { return d.Record(record, t); });
}
absl::StatusOr<ObjectBundle> DeflateMetricRecord(const MetricRecord& record) {
  return RunDeflater(record,
                     [&](Deflater& d, proto::ObjectTree* t) { return d.Record(record, t); });
}

absl::StatusOr<std::string> ComputeMessageId(const Message& message) {
  auto bundle = DeflateMessage(message);
  if (!bundle.ok()) return bundle.status();
  return bundle->root_id();
}

absl::StatusOr<Message> InflateMessage(absl::string_view object_id, const ObjectContents& objects,
                                       const InflateOptions& options) {
  return Inflater(objects, options).Message(object_id);
}
absl::StatusOr<RecordDict> InflateRecordDict(absl::string_view object_id,
                                             const ObjectContents& objects,
                                             const InflateOptions& options) {
  return Inflater(objects, options).RecordDict(object_id);
}
absl::StatusOr<ArrayRecord> InflateArrayRecord(absl::string_view object_id,
                                               const ObjectContents& objects,
                                               const InflateOptions& options) {
  return Inflater(objects, options).ArrayRecord(object_id);
}
absl::StatusOr<Array> InflateArray(absl::string_view object_id, const ObjectContents& objects,
                                   const InflateOptions& options) {
  return Inflater(objects, options).Array(object_id);
}

absl::StatusOr<ConfigRecord> InflateConfigRecord(absl::string_view object_id,
                                                 const ObjectContents& objects,
                                                 const InflateOptions& options) {
  return Inflater(objects, options).ConfigRecord(object_id);
}
absl::StatusOr<MetricRecord> InflateMetricRecord(absl::string_view object_id,
                                                 const ObjectContents& objects,
                                                 const InflateOptions& options) {
  return Inflater(objects, options).MetricRecord(object_id);
}

std::vector<std::string> ObjectTreePostOrder(const proto::ObjectTree& tree) {
  std::vector<std::string> out;
  AppendPostOrder(tree, &out);
  return out;
}

}  // namespace flwr::core
