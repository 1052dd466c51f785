#include "flwr/core/proto_convert.h"

#include <algorithm>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "flwr/core/python_compat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"

namespace flwr::core {
namespace {

constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

absl::Status CheckText(absl::string_view text, absl::string_view what) {
  if (CheckUtf8(text).ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " is not valid UTF-8"));
}

bool AnyAboveInt64(const std::vector<uint64_t>& values) {
  return std::any_of(values.begin(), values.end(), [](uint64_t v) { return v > kInt64Max; });
}

// Python has one int type; Flower sends it as uint64 only above INT64_MAX. Writes the
// integer fields of a *RecordValue / Scalar the same way.
template <typename P>
void SetInt(uint64_t v, P* proto) {
  if (v > kInt64Max) {
    proto->set_uint64(v);
  } else {
    proto->set_sint64(static_cast<int64_t>(v));
  }
}

template <typename P>
void SetUintList(const std::vector<uint64_t>& values, P* proto) {
  if (AnyAboveInt64(values)) {
    proto->mutable_uint_list()->mutable_vals()->Assign(values.begin(), values.end());
  } else {
    auto* vals = proto->mutable_sint_list()->mutable_vals();
    for (uint64_t v : values) vals->Add(static_cast<int64_t>(v));
  }
}

// Integers that fit int64 become int64_t, as a decoded Python int is just an int.
template <typename V>
V IntFromUint(uint64_t v) {
  return v > kInt64Max ? V(v) : V(static_cast<int64_t>(v));
}

template <typename V, typename L>
V IntListFromUintList(const L& list) {
  std::vector<uint64_t> vals(list.vals().begin(), list.vals().end());
  if (AnyAboveInt64(vals)) return V(std::move(vals));
  return V(std::vector<int64_t>(vals.begin(), vals.end()));
}

// Writes one of the scalar alternatives ConfigValue and UserConfigValue share into a
// ConfigRecordValue or a Scalar, whose fields have the same names.
template <typename P>
struct ScalarWriter {
  P* out;
  absl::Status* status;
  absl::string_view what;

  void operator()(double v) const { out->set_double_(v); }
  void operator()(int64_t v) const { out->set_sint64(v); }
  void operator()(uint64_t v) const { SetInt(v, out); }
  void operator()(bool v) const { out->set_bool_(v); }
  void operator()(const std::string& v) const {
    *status = CheckText(v, what);
    out->set_string(v);
  }
  void operator()(const Bytes& v) const { out->set_bytes(v.value); }
};

absl::StatusOr<proto::MetricRecordValue> MetricValueToProto(const MetricValue& value) {
  proto::MetricRecordValue out;
  std::visit(Overloaded{
                 [&](double v) { out.set_double_(v); },
                 [&](int64_t v) { out.set_sint64(v); },
                 [&](uint64_t v) { SetInt(v, &out); },
                 [&](const std::vector<double>& v) {
                   out.mutable_double_list()->mutable_vals()->Assign(v.begin(), v.end());
                 },
                 [&](const std::vector<int64_t>& v) {
                   // An empty list is untyped in Python: Flower writes it as a double list.
                   if (v.empty()) {
                     out.mutable_double_list();
                   } else {
                     out.mutable_sint_list()->mutable_vals()->Assign(v.begin(), v.end());
                   }
                 },
                 [&](const std::vector<uint64_t>& v) {
                   if (v.empty()) {
                     out.mutable_double_list();
                   } else {
                     SetUintList(v, &out);
                   }
                 },
             },
             value);
  return out;
}

// The list a value holds, or nullptr for a scalar or an unset value.
template <typename P>
const google::protobuf::Message* ListOf(const P& p) {
  const auto* field = p.GetDescriptor()->FindOneofByName("value");
  const auto* set = p.GetReflection()->GetOneofFieldDescriptor(p, field);
  if (set == nullptr || set->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
    return nullptr;
  }
  return &p.GetReflection()->GetMessage(p, set);
}

// True if `p` holds a list without elements: Python decodes it to [], which has no type.
template <typename P>
bool IsEmptyList(const P& p) {
  const google::protobuf::Message* list = ListOf(p);
  return list != nullptr && list->GetReflection()->FieldSize(
                                *list, list->GetDescriptor()->FindFieldByName("vals")) == 0;
}

absl::StatusOr<MetricValue> MetricValueFromProto(const proto::MetricRecordValue& p) {
  using P = proto::MetricRecordValue;
  if (IsEmptyList(p)) return MetricValue(std::vector<double>{});
  switch (p.value_case()) {
    case P::kDouble:
      return MetricValue(p.double_());
    case P::kSint64:
      return MetricValue(p.sint64());
    case P::kUint64:
      return IntFromUint<MetricValue>(p.uint64());
    case P::kDoubleList:
      return MetricValue(
          std::vector<double>(p.double_list().vals().begin(), p.double_list().vals().end()));
    case P::kSintList:
      return MetricValue(
          std::vector<int64_t>(p.sint_list().vals().begin(), p.sint_list().vals().end()));
    case P::kUintList:
      return IntListFromUintList<MetricValue>(p.uint_list());
    case P::VALUE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("MetricRecord value is not set");
}

// Python checks bool first, so an empty list (all() of nothing is True) becomes a bool list.
bool WriteEmptyConfigList(size_t size, proto::ConfigRecordValue* out) {
  if (size != 0) return false;
  out->mutable_bool_list();
  return true;
}

absl::StatusOr<proto::ConfigRecordValue> ConfigValueToProto(const ConfigValue& value) {
  proto::ConfigRecordValue out;
  absl::Status status = absl::OkStatus();
  std::visit(Overloaded{
                 ScalarWriter<proto::ConfigRecordValue>{&out, &status, "ConfigRecord string value"},
                 [&](const std::vector<double>& v) {
                   if (!WriteEmptyConfigList(v.size(), &out)) {
                     out.mutable_double_list()->mutable_vals()->Assign(v.begin(), v.end());
                   }
                 },
                 [&](const std::vector<int64_t>& v) {
                   if (!WriteEmptyConfigList(v.size(), &out)) {
                     out.mutable_sint_list()->mutable_vals()->Assign(v.begin(), v.end());
                   }
                 },
                 [&](const std::vector<uint64_t>& v) {
                   if (!WriteEmptyConfigList(v.size(), &out)) SetUintList(v, &out);
                 },
                 [&](const std::vector<bool>& v) {
                   auto* vals = out.mutable_bool_list()->mutable_vals();
                   for (bool b : v) vals->Add(b);
                 },
                 [&](const std::vector<std::string>& v) {
                   if (WriteEmptyConfigList(v.size(), &out)) return;
                   auto* vals = out.mutable_string_list()->mutable_vals();
                   for (const std::string& s : v) {
                     if (status.ok()) status = CheckText(s, "ConfigRecord string value");
                     vals->Add(std::string(s));
                   }
                 },
                 [&](const std::vector<Bytes>& v) {
                   if (WriteEmptyConfigList(v.size(), &out)) return;
                   auto* vals = out.mutable_bytes_list()->mutable_vals();
                   for (const Bytes& b : v) vals->Add(std::string(b.value));
                 },
             },
             value);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<ConfigValue> ConfigValueFromProto(const proto::ConfigRecordValue& p) {
  using P = proto::ConfigRecordValue;
  if (IsEmptyList(p)) return ConfigValue(std::vector<bool>{});
  switch (p.value_case()) {
    case P::kDouble:
      return ConfigValue(p.double_());
    case P::kSint64:
      return ConfigValue(p.sint64());
    case P::kUint64:
      return IntFromUint<ConfigValue>(p.uint64());
    case P::kBool:
      return ConfigValue(p.bool_());
    case P::kString:
      if (absl::Status s = CheckText(p.string(), "ConfigRecord string value"); !s.ok()) return s;
      return ConfigValue(p.string());
    case P::kBytes:
      return ConfigValue(Bytes{p.bytes()});
    case P::kDoubleList:
      return ConfigValue(
          std::vector<double>(p.double_list().vals().begin(), p.double_list().vals().end()));
    case P::kSintList:
      return ConfigValue(
          std::vector<int64_t>(p.sint_list().vals().begin(), p.sint_list().vals().end()));
    case P::kUintList:
      return IntListFromUintList<ConfigValue>(p.uint_list());
    case P::kBoolList:
      return ConfigValue(
          std::vector<bool>(p.bool_list().vals().begin(), p.bool_list().vals().end()));
    case P::kStringList: {
      std::vector<std::string> vals;
      for (const std::string& s : p.string_list().vals()) {
        if (absl::Status st = CheckText(s, "ConfigRecord string value"); !st.ok()) return st;
        vals.push_back(s);
      }
      return ConfigValue(std::move(vals));
    }
    case P::kBytesList: {
      std::vector<Bytes> vals;
      for (const std::string& b : p.bytes_list().vals()) vals.push_back(Bytes{b});
      return ConfigValue(std::move(vals));
    }
    case P::VALUE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("ConfigRecord value is not set");
}

// Shared shape of the three record conversions: repeated Item {key, value}.
template <typename Proto, typename Record, typename ValueToProto>
absl::StatusOr<Proto> ItemsToProto(const Record& record, absl::string_view what,
                                   ValueToProto value_to_proto) {
  Proto out;
  for (const auto& [key, value] : record) {
    if (absl::Status s = CheckText(key, absl::StrCat(what, " key")); !s.ok()) return s;
    auto v = value_to_proto(value);
    if (!v.ok()) return v.status();
    auto* item = out.add_items();
    item->set_key(key);
    *item->mutable_value() = *std::move(v);
  }
  return out;
}

template <typename Record, typename Proto, typename ValueFromProto>
absl::StatusOr<Record> ItemsFromProto(const Proto& proto, absl::string_view what,
                                      ValueFromProto value_from_proto) {
  Record out;
  for (const auto& item : proto.items()) {
    if (absl::Status s = CheckText(item.key(), absl::StrCat(what, " key")); !s.ok()) return s;
    auto v = value_from_proto(item.value());
    if (!v.ok()) return v.status();
    out.Set(item.key(), *std::move(v));
  }
  return out;
}

}  // namespace

std::string SerializeDeterministic(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

absl::StatusOr<proto::Array> ArrayToProto(const Array& array) {
  proto::Array out;
  if (absl::Status s = CheckText(array.dtype, "Array dtype"); !s.ok()) return s;
  if (absl::Status s = CheckText(array.stype, "Array stype"); !s.ok()) return s;
  out.set_dtype(array.dtype);
  for (int64_t dim : array.shape) {
    if (dim < std::numeric_limits<int32_t>::min() || dim > std::numeric_limits<int32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat("Array dimension ", dim, " exceeds int32"));
    }
    out.add_shape(static_cast<int32_t>(dim));
  }
  out.set_stype(array.stype);
  out.set_data(array.data.str());
  return out;
}

Array ArrayFromProto(const proto::Array& proto) {
  return Array{proto.dtype(), std::vector<int64_t>(proto.shape().begin(), proto.shape().end()),
               proto.stype(), proto.data()};
}

absl::StatusOr<proto::ArrayRecord> ArrayRecordToProto(const ArrayRecord& record) {
  return ItemsToProto<proto::ArrayRecord>(record, "ArrayRecord", ArrayToProto);
}

absl::StatusOr<ArrayRecord> ArrayRecordFromProto(const proto::ArrayRecord& proto) {
  return ItemsFromProto<ArrayRecord>(proto, "ArrayRecord", [](const proto::Array& a) {
    return absl::StatusOr<Array>(ArrayFromProto(a));
  });
}

absl::StatusOr<proto::MetricRecord> MetricRecordToProto(const MetricRecord& record) {
  return ItemsToProto<proto::MetricRecord>(record, "MetricRecord", MetricValueToProto);
}

absl::StatusOr<MetricRecord> MetricRecordFromProto(const proto::MetricRecord& proto) {
  return ItemsFromProto<MetricRecord>(proto, "MetricRecord", MetricValueFromProto);
}

absl::StatusOr<proto::ConfigRecord> ConfigRecordToProto(const ConfigRecord& record) {
  return ItemsToProto<proto::ConfigRecord>(record, "ConfigRecord", ConfigValueToProto);
}

absl::StatusOr<ConfigRecord> ConfigRecordFromProto(const proto::ConfigRecord& proto) {
  return ItemsFromProto<ConfigRecord>(proto, "ConfigRecord", ConfigValueFromProto);
}

absl::StatusOr<proto::RecordDict> RecordDictToProto(const RecordDict& record_dict) {
  proto::RecordDict out;
  for (const auto& [key, record] : record_dict) {
    if (absl::Status s = CheckText(key, "RecordDict key"); !s.ok()) return s;
    auto* item = out.add_items();
    item->set_key(key);
    absl::Status status = std::visit(Overloaded{
                                         [&](const ArrayRecord& r) -> absl::Status {
                                           auto p = ArrayRecordToProto(r);
                                           if (p.ok())
                                             *item->mutable_array_record() = *std::move(p);
                                           return p.status();
                                         },
                                         [&](const MetricRecord& r) -> absl::Status {
                                           auto p = MetricRecordToProto(r);
                                           if (p.ok())
                                             *item->mutable_metric_record() = *std::move(p);
                                           return p.status();
                                         },
                                         [&](const ConfigRecord& r) -> absl::Status {
                                           auto p = ConfigRecordToProto(r);
                                           if (p.ok())
                                             *item->mutable_config_record() = *std::move(p);
                                           return p.status();
                                         },
                                     },
                                     record);
    if (!status.ok()) return status;
  }
  return out;
}

absl::StatusOr<RecordDict> RecordDictFromProto(const proto::RecordDict& proto) {
  RecordDict out;
  for (const auto& item : proto.items()) {
    if (absl::Status s = CheckText(item.key(), "RecordDict key"); !s.ok()) return s;
    using Item = proto::RecordDict::Item;
    switch (item.value_case()) {
      case Item::kArrayRecord: {
        auto r = ArrayRecordFromProto(item.array_record());
        if (!r.ok()) return r.status();
        out.Set(item.key(), *std::move(r));
        break;
      }
      case Item::kMetricRecord: {
        auto r = MetricRecordFromProto(item.metric_record());
        if (!r.ok()) return r.status();
        out.Set(item.key(), *std::move(r));
        break;
      }
      case Item::kConfigRecord: {
        auto r = ConfigRecordFromProto(item.config_record());
        if (!r.ok()) return r.status();
        out.Set(item.key(), *std::move(r));
        break;
      }
      case Item::VALUE_NOT_SET:
        return absl::InvalidArgumentError("RecordDict item holds no record");
    }
  }
  return out;
}

proto::Metadata MetadataToProto(const Metadata& m) {
  proto::Metadata out;
  out.set_run_id(m.run_id);
  out.set_message_id(m.message_id);
  out.set_src_node_id(m.src_node_id);
  out.set_dst_node_id(m.dst_node_id);
  out.set_reply_to_message_id(m.reply_to_message_id);
  out.set_group_id(m.group_id);
  out.set_ttl(m.ttl);
  out.set_message_type(m.message_type);
  out.set_created_at(m.created_at);
  if (m.src_task_id) out.set_src_task_id(*m.src_task_id);
  if (m.dst_task_id) out.set_dst_task_id(*m.dst_task_id);
  return out;
}

Metadata MetadataFromProto(const proto::Metadata& p) {
  Metadata m;
  m.run_id = p.run_id();
  m.message_id = p.message_id();
  m.src_node_id = p.src_node_id();
  m.dst_node_id = p.dst_node_id();
  m.reply_to_message_id = p.reply_to_message_id();
  m.group_id = p.group_id();
  m.ttl = p.ttl();
  m.message_type = p.message_type();
  m.created_at = p.created_at();
  if (p.has_src_task_id()) m.src_task_id = p.src_task_id();
  if (p.has_dst_task_id()) m.dst_task_id = p.dst_task_id();
  return m;
}

proto::Error ErrorToProto(const Error& error) {
  proto::Error out;
  out.set_code(error.code);
  out.set_reason(error.reason);
  return out;
}

Error ErrorFromProto(const proto::Error& proto) { return Error{proto.code(), proto.reason()}; }

absl::StatusOr<proto::Message> MessageToProto(const Message& message) {
  proto::Message out;
  *out.mutable_metadata() = MetadataToProto(message.metadata);
  if (message.content) {
    auto content = RecordDictToProto(*message.content);
    if (!content.ok()) return content.status();
    *out.mutable_content() = *std::move(content);
  }
  if (message.error) *out.mutable_error() = ErrorToProto(*message.error);
  return out;
}

absl::StatusOr<Message> MessageFromProto(const proto::Message& proto) {
  Message out;
  out.metadata = MetadataFromProto(proto.metadata());
  if (proto.has_content()) {
    auto content = RecordDictFromProto(proto.content());
    if (!content.ok()) return content.status();
    out.content = *std::move(content);
  }
  if (proto.has_error()) out.error = ErrorFromProto(proto.error());
  return out;
}

absl::StatusOr<proto::Scalar> UserConfigValueToProto(const UserConfigValue& value) {
  proto::Scalar out;
  absl::Status status = absl::OkStatus();
  std::visit(ScalarWriter<proto::Scalar>{&out, &status, "config string value"}, value);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<UserConfigValue> UserConfigValueFromProto(const proto::Scalar& p) {
  switch (p.scalar_case()) {
    case proto::Scalar::kDouble:
      return UserConfigValue(p.double_());
    case proto::Scalar::kSint64:
      return UserConfigValue(p.sint64());
    case proto::Scalar::kUint64:
      return IntFromUint<UserConfigValue>(p.uint64());
    case proto::Scalar::kBool:
      return UserConfigValue(p.bool_());
    case proto::Scalar::kString:
      if (absl::Status s = CheckText(p.string(), "config string value"); !s.ok()) return s;
      return UserConfigValue(p.string());
    case proto::Scalar::kBytes:
      return UserConfigValue(Bytes{p.bytes()});
    case proto::Scalar::SCALAR_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("config value is not set");
}

absl::Status UserConfigToProto(const UserConfig& config,
                               google::protobuf::Map<std::string, proto::Scalar>* out) {
  for (const auto& [key, value] : config) {
    if (absl::Status s = CheckText(key, "config key"); !s.ok()) return s;
    auto v = UserConfigValueToProto(value);
    if (!v.ok()) return v.status();
    (*out)[key] = *std::move(v);
  }
  return absl::OkStatus();
}

absl::StatusOr<UserConfig> UserConfigFromProto(
    const google::protobuf::Map<std::string, proto::Scalar>& proto) {
  std::vector<const std::string*> keys;
  for (const auto& [key, unused] : proto) keys.push_back(&key);
  std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
  UserConfig out;
  for (const std::string* key : keys) {
    if (absl::Status s = CheckText(*key, "config key"); !s.ok()) return s;
    auto v = UserConfigValueFromProto(proto.at(*key));
    if (!v.ok()) return v.status();
    out.Set(*key, *std::move(v));
  }
  return out;
}

absl::StatusOr<proto::Context> ContextToProto(const Context& context) {
  proto::Context out;
  out.set_run_id(context.run_id);
  out.set_node_id(context.node_id);
  if (absl::Status s = UserConfigToProto(context.node_config, out.mutable_node_config()); !s.ok()) {
    return s;
  }
  auto state = RecordDictToProto(context.state);
  if (!state.ok()) return state.status();
  *out.mutable_state() = *std::move(state);
  if (absl::Status s = UserConfigToProto(context.run_config, out.mutable_run_config()); !s.ok()) {
    return s;
  }
  out.set_series_id(context.series_id);
  return out;
}

absl::StatusOr<Context> ContextFromProto(const proto::Context& proto) {
  Context out;
  out.run_id = proto.run_id();
  out.node_id = proto.node_id();
  auto node_config = UserConfigFromProto(proto.node_config());
  if (!node_config.ok()) return node_config.status();
  out.node_config = *std::move(node_config);
  auto state = RecordDictFromProto(proto.state());
  if (!state.ok()) return state.status();
  out.state = *std::move(state);
  auto run_config = UserConfigFromProto(proto.run_config());
  if (!run_config.ok()) return run_config.status();
  out.run_config = *std::move(run_config);
  out.series_id = proto.series_id();
  return out;
}

}  // namespace flwr::core
