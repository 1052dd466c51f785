#include "flwr/core/proto_convert.h"

#include <gtest/gtest.h>

#include <limits>

namespace flwr::core {
namespace {

constexpr uint64_t kBig = uint64_t{1} << 63;

TEST(ProtoConvertTest, integers_use_uint64_only_above_int64_max) {
  ConfigRecord record;
  record.Set("small", uint64_t{5});
  record.Set("big", kBig);
  record.Set("list_small", std::vector<uint64_t>{1, 2});
  record.Set("list_big", std::vector<uint64_t>{1, kBig});
  auto proto = ConfigRecordToProto(record);
  ASSERT_TRUE(proto.ok());
  EXPECT_TRUE(proto->items(0).value().has_sint64());
  EXPECT_EQ(proto->items(1).value().uint64(), kBig);
  EXPECT_TRUE(proto->items(2).value().has_sint_list());
  EXPECT_TRUE(proto->items(3).value().has_uint_list());

  // Decoding gives int64 wherever the value fits, as Python gives an int.
  auto back = ConfigRecordFromProto(*proto);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back->Find("small"), ConfigValue(int64_t{5}));
  EXPECT_EQ(*back->Find("big"), ConfigValue(kBig));
  EXPECT_EQ(*back->Find("list_small"), ConfigValue(std::vector<int64_t>{1, 2}));
}

TEST(ProtoConvertTest, empty_lists_are_typed_as_python_types_them) {
  ConfigRecord config;
  config.Set("e", std::vector<std::string>{});
  MetricRecord metrics;
  metrics.Set("e", std::vector<int64_t>{});
  EXPECT_TRUE(ConfigRecordToProto(config)->items(0).value().has_bool_list());
  EXPECT_TRUE(MetricRecordToProto(metrics)->items(0).value().has_double_list());
}

TEST(ProtoConvertTest, unset_value_is_rejected) {
  proto::ConfigRecord proto;
  proto.add_items()->set_key("k");
  EXPECT_EQ(ConfigRecordFromProto(proto).status().code(), absl::StatusCode::kInvalidArgument);
  proto::RecordDict rd;
  rd.add_items()->set_key("k");
  EXPECT_FALSE(RecordDictFromProto(rd).ok());
}

TEST(ProtoConvertTest, text_that_is_not_utf8_is_rejected) {
  ConfigRecord record;
  record.Set("\xff", int64_t{1});
  EXPECT_FALSE(ConfigRecordToProto(record).ok());
  ConfigRecord value;
  value.Set("k", std::string("\xc3"));
  EXPECT_FALSE(ConfigRecordToProto(value).ok());
}

TEST(ProtoConvertTest, message_round_trips) {
  Message message;
  message.metadata.run_id = 7;
  message.metadata.message_type = "train";
  message.metadata.dst_task_id = 3;
  RecordDict content;
  ArrayRecord arrays;
  arrays.Set("w", *Array::FromFloats({1.5f, 2.5f}, {2}));
  content.Set("arrays", arrays);
  MetricRecord metrics;
  metrics.Set("loss", 0.25);
  content.Set("metrics", metrics);
  message.content = content;
  auto proto = MessageToProto(message);
  ASSERT_TRUE(proto.ok());
  EXPECT_FALSE(proto->metadata().has_src_task_id());
  auto back = MessageFromProto(*proto);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, message);
}

TEST(ProtoConvertTest, context_round_trips_with_sorted_config_keys) {
  Context context;
  context.run_id = 1;
  context.node_config.Set("partition-id", int64_t{0});
  context.run_config.Set("lr", 0.1);
  context.run_config.Set("epochs", int64_t{2});
  auto proto = ContextToProto(context);
  ASSERT_TRUE(proto.ok());
  auto back = ContextFromProto(*proto);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->run_config.begin()->first, "epochs");
  EXPECT_EQ(*back->run_config.Find("lr"), UserConfigValue(0.1));
  EXPECT_EQ(back->node_config, context.node_config);
}

}  // namespace
}  // namespace flwr::core
