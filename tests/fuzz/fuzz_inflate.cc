// libFuzzer target for flwr::core's inflater (InflateMessage, InflateRecordDict,
// InflateArrayRecord, InflateArray, InflateConfigRecord, InflateMetricRecord): rebuilding
// values from object contents pulled from a peer.
//
// Input framing: object contents separated by kObjectSeparator (at most kMaxObjects). A
// segment that starts with '#' carries an explicit key: "#<key>\n<content>". Each input runs
//  1. with every object keyed by ComputeObjectId(content) and IDs verified, so that the
//     fuzzer gets past the hash checks to the structural ones;
//  2. with the explicit keys (computed IDs where there is none) and IDs verified, to reach
//     the hash-mismatch paths (only if some segment has an explicit key);
//  3. with the explicit keys and verify_object_ids=false.
// Every inflate function runs on every key, with max_total_bytes = 64 MiB.
//
// Invariants:
//  - a failure is InvalidArgument, NotFound or ResourceExhausted;
//  - at most one inflate function succeeds on a key, and only the one for the type its head
//    names;
//  - with no explicit keys, verifying IDs or not gives the same outcome;
//  - a value that inflates deflates (or is refused with InvalidArgument, never a crash) to a
//    well-formed bundle (IDs are SHA-256 of contents, heads parse, the root is last, the
//    tree lists exactly the bundle's objects); that bundle inflates back to an equal value
//    (for a Message, with metadata.message_id blank, as deflating drops it), and deflating
//    that again gives the same root ID (deflate output is a fixed point).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "flwr/core/inflatable.h"
#include "fuzz_util.h"
#include "google/protobuf/stubs/logging.h"

namespace {

using namespace flwr::core;  // NOLINT: the target exercises the whole inflatable API.
using flwr::fuzz::Show;

constexpr absl::string_view kObjectSeparator = "\n~obj~\n";
constexpr size_t kMaxObjects = 64;
constexpr uint64_t kMaxTotalBytes = uint64_t{64} << 20;

struct Segment {
  std::optional<std::string> key;
  std::string content;
};

std::vector<Segment> Split(absl::string_view input) {
  std::vector<Segment> out;
  for (absl::string_view part : absl::StrSplit(input, kObjectSeparator)) {
    if (out.size() == kMaxObjects) break;
    Segment s;
    if (!part.empty() && part[0] == '#') {
      const size_t newline = part.find('\n');
      s.key =
          std::string(part.substr(1, newline == absl::string_view::npos ? part.npos : newline - 1));
      if (newline != absl::string_view::npos) s.content = std::string(part.substr(newline + 1));
    } else {
      s.content = std::string(part);
    }
    out.push_back(std::move(s));
  }
  return out;
}

// The deflate/inflate pair of each inflatable value type.
template <typename T>
struct Codec;
template <>
struct Codec<Message> {
  static constexpr absl::string_view kName = "Message";
  static constexpr ObjectType kType = ObjectType::kMessage;
  static absl::StatusOr<ObjectBundle> Deflate(const Message& v) { return DeflateMessage(v); }
  static absl::StatusOr<Message> Inflate(absl::string_view id, const ObjectContents& objects,
                                         const InflateOptions& options) {
    return InflateMessage(id, objects, options);
  }
};
template <>
struct Codec<RecordDict> {
  static constexpr absl::string_view kName = "RecordDict";
  static constexpr ObjectType kType = ObjectType::kRecordDict;
  static absl::StatusOr<ObjectBundle> Deflate(const RecordDict& v) { return DeflateRecordDict(v); }
  static absl::StatusOr<RecordDict> Inflate(absl::string_view id, const ObjectContents& objects,
                                            const InflateOptions& options) {
    return InflateRecordDict(id, objects, options);
  }
};
template <>
struct Codec<ArrayRecord> {
  static constexpr absl::string_view kName = "ArrayRecord";
  static constexpr ObjectType kType = ObjectType::kArrayRecord;
  static absl::StatusOr<ObjectBundle> Deflate(const ArrayRecord& v) {
    return DeflateArrayRecord(v);
  }
  static absl::StatusOr<ArrayRecord> Inflate(absl::string_view id, const ObjectContents& objects,
                                             const InflateOptions& options) {
    return InflateArrayRecord(id, objects, options);
  }
};
template <>
struct Codec<Array> {
  static constexpr absl::string_view kName = "Array";
  static constexpr ObjectType kType = ObjectType::kArray;
  static absl::StatusOr<ObjectBundle> Deflate(const Array& v) { return DeflateArray(v); }
  static absl::StatusOr<Array> Inflate(absl::string_view id, const ObjectContents& objects,
                                       const InflateOptions& options) {
    return InflateArray(id, objects, options);
  }
};
template <>
struct Codec<ConfigRecord> {
  static constexpr absl::string_view kName = "ConfigRecord";
  static constexpr ObjectType kType = ObjectType::kConfigRecord;
  static absl::StatusOr<ObjectBundle> Deflate(const ConfigRecord& v) {
    return DeflateConfigRecord(v);
  }
  static absl::StatusOr<ConfigRecord> Inflate(absl::string_view id, const ObjectContents& objects,
                                              const InflateOptions& options) {
    return InflateConfigRecord(id, objects, options);
  }
};
template <>
struct Codec<MetricRecord> {
  static constexpr absl::string_view kName = "MetricRecord";
  static constexpr ObjectType kType = ObjectType::kMetricRecord;
  static absl::StatusOr<ObjectBundle> Deflate(const MetricRecord& v) {
    return DeflateMetricRecord(v);
  }
  static absl::StatusOr<MetricRecord> Inflate(absl::string_view id, const ObjectContents& objects,
                                              const InflateOptions& options) {
    return InflateMetricRecord(id, objects, options);
  }
};

void CheckFailure(absl::string_view what, const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kNotFound ||
                 status.code() == absl::StatusCode::kResourceExhausted,
             absl::StrCat(what, ": ", status.ToString()));
}

void CollectTreeIds(const flwr::proto::ObjectTree& tree, absl::flat_hash_set<std::string>* out) {
  out->insert(tree.object_id());
  for (const auto& child : tree.children()) CollectTreeIds(child, out);
}

// A bundle as DeflateX documents it.
void CheckBundle(absl::string_view what, const ObjectBundle& bundle) {
  FUZZ_CHECK(!bundle.objects.empty(), what);
  FUZZ_CHECK(bundle.objects.back().object_id == bundle.root_id(),
             absl::StrCat(what, ": root is not the last object"));
  absl::flat_hash_set<std::string> ids;
  for (const DeflatedObject& obj : bundle.objects) {
    const std::string content = obj.content();
    FUZZ_CHECK(content.size() == obj.content_size(), what);
    FUZZ_CHECK(ComputeObjectId(content) == obj.object_id,
               absl::StrCat(what, ": object ID is not the hash of ", Show(content)));
    FUZZ_CHECK(ids.insert(obj.object_id).second,
               absl::StrCat(what, ": object ", obj.object_id, " listed twice"));
    auto head = ParseObjectHead(content);
    FUZZ_CHECK(head.ok(),
               absl::StrCat(what, ": deflated ", Show(content), ": ", head.status().ToString()));
    for (const std::string& child : head->children) {
      FUZZ_CHECK(ids.contains(child),
                 absl::StrCat(what, ": child ", child, " does not precede its parent"));
    }
  }
  absl::flat_hash_set<std::string> tree_ids;
  CollectTreeIds(bundle.tree, &tree_ids);
  FUZZ_CHECK(tree_ids == ids, absl::StrCat(what, ": object tree does not list the objects"));
  const std::vector<std::string> post = ObjectTreePostOrder(bundle.tree);
  FUZZ_CHECK(!post.empty() && post.back() == bundle.root_id(),
             absl::StrCat(what, ": post order does not end at the root"));
}

ObjectContents ToContents(const ObjectBundle& bundle) {
  ObjectContents out;
  for (const DeflatedObject& obj : bundle.objects) out[obj.object_id] = obj.content();
  return out;
}

// Deflate -> inflate -> deflate of a value that inflated from fuzzed objects.
template <typename T>
void CheckRoundTrip(const T& value, const InflateOptions& options) {
  using C = Codec<T>;
  const std::string what = absl::StrCat("round trip of ", C::kName);
  T expected = value;
  if constexpr (std::is_same_v<T, Message>) expected.metadata.message_id.clear();

  auto bundle = C::Deflate(value);
  if (!bundle.ok()) {
    FUZZ_CHECK(bundle.status().code() == absl::StatusCode::kInvalidArgument,
               absl::StrCat(what, ": deflate: ", bundle.status().ToString()));
    return;
  }
  CheckBundle(what, *bundle);
  if constexpr (std::is_same_v<T, Message>) {
    auto id = ComputeMessageId(value);
    FUZZ_CHECK(id.ok() && *id == bundle->root_id(), what + ": ComputeMessageId differs");
  }

  auto back = C::Inflate(bundle->root_id(), ToContents(*bundle), options);
  FUZZ_CHECK(back.ok(), absl::StrCat(what, ": inflate: ", back.status().ToString()));
  auto again = C::Deflate(*back);
  FUZZ_CHECK(again.ok(), absl::StrCat(what, ": deflate again: ", again.status().ToString()));
  FUZZ_CHECK(again->root_id() == bundle->root_id(),
             absl::StrCat(what, ": deflating the inflated bundle gives ",
                          Show(again->objects.back().content()), ", first deflate gave ",
                          Show(bundle->objects.back().content())));
  // operator== compares doubles with ==: a NaN never equals itself, and then the equal
  // root IDs above (bit-exact contents) are the check.
  FUZZ_CHECK(*back == expected || flwr::fuzz::HasNaN(expected),
             absl::StrCat(what, ": inflated value differs from the deflated one; root ",
                          Show(bundle->objects.back().content())));
}

// Outcome of one inflate call, for comparing runs.
struct Outcome {
  absl::StatusCode code;
  bool operator==(const Outcome&) const = default;
};

template <typename T>
Outcome InflateAs(const std::string& key, const ObjectContents& objects,
                  const InflateOptions& options, bool round_trip) {
  using C = Codec<T>;
  auto value = C::Inflate(key, objects, options);
  if (!value.ok()) {
    CheckFailure(absl::StrCat("Inflate", C::kName, "(", Show(key), ")"), value.status());
    return {value.status().code()};
  }
  // Only the function for the type the object's head names can succeed.
  auto it = objects.find(key);
  FUZZ_CHECK(it != objects.end(), absl::StrCat("inflated a missing object ", Show(key)));
  auto head = ParseObjectHead(it->second);
  FUZZ_CHECK(head.ok() && head->type == C::kType,
             absl::StrCat("Inflate", C::kName, " accepted ", Show(it->second)));
  if (options.verify_object_ids) {
    FUZZ_CHECK(ComputeObjectId(it->second) == key,
               absl::StrCat("accepted a root whose content does not hash to ", Show(key)));
  }
  if (round_trip) CheckRoundTrip(*value, options);
  return {absl::StatusCode::kOk};
}

using Outcomes = std::vector<std::array<Outcome, 6>>;

Outcomes InflateAll(const std::vector<std::string>& keys, const ObjectContents& objects,
                    bool verify, bool round_trip) {
  InflateOptions options;
  options.max_total_bytes = kMaxTotalBytes;
  options.verify_object_ids = verify;
  Outcomes out;
  for (const std::string& key : keys) {
    std::array<Outcome, 6> o = {
        InflateAs<Message>(key, objects, options, round_trip),
        InflateAs<RecordDict>(key, objects, options, round_trip),
        InflateAs<ArrayRecord>(key, objects, options, round_trip),
        InflateAs<Array>(key, objects, options, round_trip),
        InflateAs<ConfigRecord>(key, objects, options, round_trip),
        InflateAs<MetricRecord>(key, objects, options, round_trip),
    };
    int successes = 0;
    for (const Outcome& x : o) successes += x.code == absl::StatusCode::kOk;
    FUZZ_CHECK(successes <= 1, absl::StrCat(successes, " inflate functions accepted ", Show(key)));
    out.push_back(o);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Parsing fuzzed protobuf bodies logs every non-UTF-8 string field; that is expected here.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<Segment> segments =
      Split(absl::string_view(reinterpret_cast<const char*>(data), size));

  // 1. Keys are the contents' IDs: hashes verify, structure is what is tested.
  ObjectContents hashed;
  std::vector<std::string> hashed_keys;
  // 2./3. Keys as the input gives them.
  ObjectContents keyed;
  std::vector<std::string> keys;
  bool explicit_keys = false;
  for (const Segment& s : segments) {
    std::string id = ComputeObjectId(s.content);
    hashed.try_emplace(id, s.content);
    hashed_keys.push_back(id);
    explicit_keys |= s.key.has_value();
    std::string key = s.key.value_or(id);
    keyed.try_emplace(key, s.content);
    keys.push_back(std::move(key));
  }

  const Outcomes verified = InflateAll(hashed_keys, hashed, /*verify=*/true, /*round_trip=*/true);
  if (explicit_keys) InflateAll(keys, keyed, /*verify=*/true, /*round_trip=*/true);
  // Without explicit keys the unverified run inflates the very values of the first run, whose
  // round trips are already checked.
  const Outcomes unverified =
      InflateAll(keys, keyed, /*verify=*/false, /*round_trip=*/explicit_keys);
  if (!explicit_keys) {
    // Every key is its content's hash: checking hashes cannot change any outcome.
    FUZZ_CHECK(verified == unverified, "verify_object_ids changed an outcome on valid IDs");
  }
  return 0;
}
