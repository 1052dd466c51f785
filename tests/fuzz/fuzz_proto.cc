// libFuzzer target for the protobuf → value decoders of flwr::core (proto_convert.h): the
// Message, Context and RecordDict protos that peers send (Fleet and Runtime API bodies, SQLite
// rows written by an older process), parsed with protobuf and turned into core values.
//
// Input: the first byte picks the proto (Message, Context, RecordDict, ConfigRecord,
// MetricRecord, ArrayRecord by its value mod 6), the rest is its wire bytes.
//
// Invariants, for every input protobuf parses:
//  - decoding fails only with InvalidArgument;
//  - a decoded value encodes again (or is refused with InvalidArgument, never a crash), and
//    that proto decodes to an equal value (bit-equal serialized protos where a NaN makes ==
//    useless);
//  - encoding is a fixed point: encode(decode(encode(v))) serializes to the same bytes as
//    encode(v).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/core/proto_convert.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/recorddict.pb.h"
#include "fuzz_util.h"
#include "google/protobuf/stubs/logging.h"

namespace {

using namespace flwr::core;  // NOLINT: the target exercises the whole conversion API.
namespace proto = flwr::proto;
using flwr::fuzz::HasNaN;
using flwr::fuzz::Show;

bool HasNaN(const Context& c) {
  return HasNaN(c.node_config) || HasNaN(c.run_config) || HasNaN(c.state);
}

void CheckDecodeFailure(const absl::Status& status, absl::string_view what) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
             std::string(what) + ": " + status.ToString());
}

// Decodes `bytes` as Proto with `from`; for a value that decodes, checks the round trip
// through `to`.
template <typename Proto, typename Value, typename From, typename To>
void RoundTrip(absl::string_view bytes, From from, To to, absl::string_view what) {
  Proto parsed;
  if (!parsed.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  absl::StatusOr<Value> value = from(parsed);
  if (!value.ok()) {
    CheckDecodeFailure(value.status(), what);
    return;
  }
  absl::StatusOr<Proto> encoded = to(*value);
  if (!encoded.ok()) {
    FUZZ_CHECK(encoded.status().code() == absl::StatusCode::kInvalidArgument,
               std::string(what) + " re-encode: " + encoded.status().ToString());
    return;
  }
  absl::StatusOr<Value> again = from(*encoded);
  FUZZ_CHECK(again.ok(), std::string(what) +
                             ": our own encoding does not decode: " + again.status().ToString());
  const std::string first = SerializeDeterministic(*encoded);
  if (!HasNaN(*value)) {
    FUZZ_CHECK(*again == *value,
               std::string(what) + ": decoded value changed in a round trip " + Show(first));
  }
  absl::StatusOr<Proto> reencoded = to(*again);
  FUZZ_CHECK(reencoded.ok(), reencoded.status().ToString());
  FUZZ_CHECK(SerializeDeterministic(*reencoded) == first,
             std::string(what) + ": encoding is not a fixed point " + Show(first));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // protobuf's parse warnings are expected noise
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      RoundTrip<proto::Message, Message>(bytes, MessageFromProto, MessageToProto, "Message");
      break;
    case 1:
      RoundTrip<proto::Context, Context>(bytes, ContextFromProto, ContextToProto, "Context");
      break;
    case 2:
      RoundTrip<proto::RecordDict, RecordDict>(bytes, RecordDictFromProto, RecordDictToProto,
                                               "RecordDict");
      break;
    case 3:
      RoundTrip<proto::ConfigRecord, ConfigRecord>(bytes, ConfigRecordFromProto,
                                                   ConfigRecordToProto, "ConfigRecord");
      break;
    case 4:
      RoundTrip<proto::MetricRecord, MetricRecord>(bytes, MetricRecordFromProto,
                                                   MetricRecordToProto, "MetricRecord");
      break;
    default:
      RoundTrip<proto::ArrayRecord, ArrayRecord>(bytes, ArrayRecordFromProto, ArrayRecordToProto,
                                                 "ArrayRecord");
      break;
  }
  return 0;
}
