// Conversions between flwr::core values and the Flower protobuf messages, as `flwr.common.serde`
// and `flwr.common.serde_utils` do them in the pinned Python `flwr`.
//
// ToProto functions return InvalidArgument for values Python could not hold (text that is not
// UTF-8, shapes beyond int32). FromProto functions return InvalidArgument for messages Python
// would reject (an unset value oneof, non-UTF-8 text).
#ifndef FLWR_CORE_PROTO_CONVERT_H_
#define FLWR_CORE_PROTO_CONVERT_H_

#include "absl/status/statusor.h"
#include "flwr/core/message.h"
#include "flwr/core/records.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/recorddict.pb.h"
#include "flwr/proto/transport.pb.h"

namespace flwr::core {

// Serialises like Python's `SerializeToString(deterministic=True)` (map entries sorted by key),
// as flwr does for hashed message bodies and for requests its clients send.
std::string SerializeDeterministic(const google::protobuf::MessageLite& message);

absl::StatusOr<proto::Array> ArrayToProto(const Array& array);
Array ArrayFromProto(const proto::Array& proto);

absl::StatusOr<proto::ArrayRecord> ArrayRecordToProto(const ArrayRecord& record);
absl::StatusOr<ArrayRecord> ArrayRecordFromProto(const proto::ArrayRecord& proto);

absl::StatusOr<proto::MetricRecord> MetricRecordToProto(const MetricRecord& record);
absl::StatusOr<MetricRecord> MetricRecordFromProto(const proto::MetricRecord& proto);

absl::StatusOr<proto::ConfigRecord> ConfigRecordToProto(const ConfigRecord& record);
absl::StatusOr<ConfigRecord> ConfigRecordFromProto(const proto::ConfigRecord& proto);

absl::StatusOr<proto::RecordDict> RecordDictToProto(const RecordDict& record_dict);
absl::StatusOr<RecordDict> RecordDictFromProto(const proto::RecordDict& proto);

proto::Metadata MetadataToProto(const Metadata& metadata);
Metadata MetadataFromProto(const proto::Metadata& proto);

proto::Error ErrorToProto(const Error& error);
Error ErrorFromProto(const proto::Error& proto);

// The full message, content included (flwr's message_to_proto).
absl::StatusOr<proto::Message> MessageToProto(const Message& message);
absl::StatusOr<Message> MessageFromProto(const proto::Message& proto);

absl::StatusOr<proto::Scalar> UserConfigValueToProto(const UserConfigValue& value);
absl::StatusOr<UserConfigValue> UserConfigValueFromProto(const proto::Scalar& proto);

// Writes `config` into a protobuf map<string, Scalar>.
absl::Status UserConfigToProto(const UserConfig& config,
                               google::protobuf::Map<std::string, proto::Scalar>* out);
// Reads a protobuf map<string, Scalar>; keys come out sorted (protobuf maps are unordered).
absl::StatusOr<UserConfig> UserConfigFromProto(
    const google::protobuf::Map<std::string, proto::Scalar>& proto);

absl::StatusOr<proto::Context> ContextToProto(const Context& context);
absl::StatusOr<Context> ContextFromProto(const proto::Context& proto);

}  // namespace flwr::core

#endif  // FLWR_CORE_PROTO_CONVERT_H_
