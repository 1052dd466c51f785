// Golden compatibility test: C++ against bytes written by the pinned stock `flwr`.
//
//   golden_test GOLDEN_DIR [gtest flags]
// GOLDEN_DIR is the output of tests/golden/make_golden.py (tests/golden/test_golden.py runs
// both). For every case C++ must (1) deflate the value to the same object IDs, object tree and
// object bytes as Python, and (2) inflate Python's objects back to the same value.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/npy.h"
#include "flwr/core/proto_convert.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "nlohmann/json.hpp"

namespace flwr::core {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

fs::path g_dir;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The C++ side of one inflatable kind: proto <-> value, deflate, inflate.
using BundleCheck = std::function<void(const ObjectBundle&)>;

struct Kind {
  // Builds the value from its protobuf, deflates it and runs `check` while the value lives
  // (a bundle views the value's arrays).
  std::function<absl::Status(const std::string& proto_bytes, const BundleCheck& check)>
      deflate_from_proto;
  std::function<absl::StatusOr<std::string>(const std::string& root, const ObjectContents&)>
      inflate_to_proto;
};

template <typename Proto, typename FromProto, typename Deflate, typename Inflate, typename ToProto>
Kind MakeKind(FromProto from_proto, Deflate deflate, Inflate inflate, ToProto to_proto) {
  Kind kind;
  kind.deflate_from_proto = [=](const std::string& bytes, const BundleCheck& check) {
    Proto proto;
    if (!proto.ParseFromString(bytes)) return absl::InvalidArgumentError("bad golden proto");
    auto value = from_proto(proto);
    if (!value.ok()) return value.status();
    auto bundle = deflate(*value);
    if (!bundle.ok()) return bundle.status();
    check(*bundle);
    return absl::OkStatus();
  };
  kind.inflate_to_proto = [=](const std::string& root,
                              const ObjectContents& objects) -> absl::StatusOr<std::string> {
    auto value = inflate(root, objects, InflateOptions{});
    if (!value.ok()) return value.status();
    auto proto = to_proto(*value);
    if (!proto.ok()) return proto.status();
    return SerializeDeterministic(*proto);
  };
  return kind;
}

template <typename T>
absl::StatusOr<T> Wrap(T value) {
  return value;
}

const Kind& KindFor(const std::string& name) {
  static const auto* kinds = new std::map<std::string, Kind>{
      {"message", MakeKind<proto::Message>(
                      MessageFromProto, [](const auto& v) { return DeflateMessage(v); },
                      InflateMessage, MessageToProto)},
      {"recorddict", MakeKind<proto::RecordDict>(
                         RecordDictFromProto, [](const auto& v) { return DeflateRecordDict(v); },
                         InflateRecordDict, RecordDictToProto)},
      {"arrayrecord", MakeKind<proto::ArrayRecord>(
                          ArrayRecordFromProto, [](const auto& v) { return DeflateArrayRecord(v); },
                          InflateArrayRecord, ArrayRecordToProto)},
      {"configrecord",
       MakeKind<proto::ConfigRecord>(
           ConfigRecordFromProto, [](const auto& v) { return DeflateConfigRecord(v); },
           InflateConfigRecord, ConfigRecordToProto)},
      {"metricrecord",
       MakeKind<proto::MetricRecord>(
           MetricRecordFromProto, [](const auto& v) { return DeflateMetricRecord(v); },
           InflateMetricRecord, MetricRecordToProto)},
      {"array", MakeKind<proto::Array>(
                    [](const proto::Array& p) { return Wrap(ArrayFromProto(p)); },
                    [](const auto& v) { return DeflateArray(v); }, InflateArray, ArrayToProto)},
  };
  return kinds->at(name);
}

// Values built natively in C++ that must hash exactly as the Python case of the same name.
absl::Status DeflateNative(const std::string& name, const BundleCheck& check) {
  auto run = [&](const auto& value, auto deflate) -> absl::Status {
    auto bundle = deflate(value);
    if (!bundle.ok()) return bundle.status();
    check(*bundle);
    return absl::OkStatus();
  };
  auto floats = [](std::vector<float> v, std::vector<int64_t> shape) {
    return *Array::FromFloats(v, std::move(shape));
  };
  ArrayRecord arrays;
  arrays.Set("w", floats({0, .25, .5, .75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75}, {3, 4}));
  arrays.Set("b", floats({0.5, -1.0}, {2}));
  if (name == "arrays_native_floats") {
    return run(arrays, [](const auto& v) { return DeflateArrayRecord(v); });
  }
  if (name == "config_all_types") {
    ConfigRecord c;
    c.Set("double", 3.25);
    c.Set("int", int64_t{-42});
    c.Set("zero", int64_t{0});
    c.Set("big_uint", (uint64_t{1} << 63) + 5);
    c.Set("bool", true);
    c.Set("str", std::string("h\xc3\xa9llo w\xc3\xb6rld"));
    c.Set("empty_str", std::string());
    c.Set("bytes", Bytes{std::string("\x00\x01\xff", 3)});
    c.Set("double_list", std::vector<double>{1.5, -2.5});
    c.Set("int_list", std::vector<int64_t>{1, -2, 3});
    c.Set("big_uint_list", std::vector<uint64_t>{1, (uint64_t{1} << 63) + 5});
    c.Set("bool_list", std::vector<bool>{true, false});
    c.Set("str_list", std::vector<std::string>{"a", "\xc3\x9f", ""});
    c.Set("bytes_list", std::vector<Bytes>{Bytes{""}, Bytes{"\xfe"}});
    c.Set("empty_list", std::vector<int64_t>{});
    return run(c, [](const auto& v) { return DeflateConfigRecord(v); });
  }
  if (name == "metric_all_types") {
    MetricRecord m;
    m.Set("loss", 0.125);
    m.Set("count", int64_t{10});
    m.Set("big_uint", (uint64_t{1} << 63) + 5);
    m.Set("nan", std::nan(""));
    m.Set("inf", HUGE_VAL);
    m.Set("neg_zero", -0.0);
    m.Set("double_list", std::vector<double>{0.5, 0.25});
    m.Set("int_list", std::vector<int64_t>{-1, 2});
    m.Set("big_uint_list", std::vector<uint64_t>{(uint64_t{1} << 63) + 5, 3});
    m.Set("empty_list", std::vector<double>{});
    return run(m, [](const auto& v) { return DeflateMetricRecord(v); });
  }
  if (name == "message_native_train") {
    Message msg;
    msg.metadata.run_id = 17;
    msg.metadata.src_node_id = 1;
    msg.metadata.src_task_id = 4242;
    msg.metadata.dst_node_id = 42;
    msg.metadata.message_type = "train";
    msg.metadata.group_id = "3";
    msg.metadata.ttl = 600.0;
    msg.metadata.created_at = 1700000000.25;
    RecordDict content;
    content.Set("arrays", arrays);
    ConfigRecord config;
    config.Set("server-round", int64_t{3});
    config.Set("lr", 0.1);
    content.Set("config", config);
    msg.content = content;
    return run(msg, [](const auto& v) { return DeflateMessage(v); });
  }
  return absl::NotFoundError("no native case " + name);
}

ObjectContents LoadObjects(const Json& ids) {
  ObjectContents out;
  for (const auto& id : ids)
    out[id.get<std::string>()] = ReadFile(g_dir / "objects" / id.get<std::string>());
  return out;
}

void ExpectSameBundle(const Json& c, const ObjectBundle& bundle) {
  EXPECT_EQ(bundle.root_id(), c["root_id"].get<std::string>());
  EXPECT_EQ(bundle.tree.SerializeAsString(), ReadFile(g_dir / c["tree"].get<std::string>()))
      << "object trees differ";
  std::vector<std::string> ids;
  for (const auto& obj : bundle.objects) ids.push_back(obj.object_id);
  EXPECT_EQ(ids, c["objects"].get<std::vector<std::string>>()) << "object lists differ";
  for (const auto& obj : bundle.objects) {
    fs::path path = g_dir / "objects" / obj.object_id;
    if (fs::exists(path)) {
      EXPECT_TRUE(obj.content() == ReadFile(path)) << "content of " << obj.object_id;
    }
  }
}

void RunDeflateCase(const Json& c) {
  absl::Status status = KindFor(c["kind"]).deflate_from_proto(
      ReadFile(g_dir / c["proto"].get<std::string>()),
      [&](const ObjectBundle& bundle) { ExpectSameBundle(c, bundle); });
  ASSERT_TRUE(status.ok()) << status;
}

void RunInflateCase(const Json& c) {
  auto proto = KindFor(c["kind"]).inflate_to_proto(c["root_id"], LoadObjects(c["objects"]));
  ASSERT_TRUE(proto.ok()) << proto.status();
  EXPECT_TRUE(*proto == ReadFile(g_dir / c["proto"].get<std::string>()))
      << "inflated value differs from Python's";
}

void RunNativeCase(const Json& c) {
  absl::Status status =
      DeflateNative(c["native"], [&](const ObjectBundle& bundle) { ExpectSameBundle(c, bundle); });
  ASSERT_TRUE(status.ok()) << status;
}

void RunContextCase(const Json& c) {
  const std::string bytes = ReadFile(g_dir / c["proto"].get<std::string>());
  proto::Context proto;
  ASSERT_TRUE(proto.ParseFromString(bytes));
  auto context = ContextFromProto(proto);
  ASSERT_TRUE(context.ok()) << context.status();
  auto back = ContextToProto(*context);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(SerializeDeterministic(*back) == bytes);
}

// Bytes Python would not write itself: C++ must decode them to the value Python decodes, i.e.
// re-encode them to Python's bytes, and that value must survive its own round trip.
template <typename Record>
void ExpectReencodes(const Json& c,
                     absl::StatusOr<Record> (*inflate)(absl::string_view, const ObjectContents&,
                                                       const InflateOptions&),
                     absl::StatusOr<ObjectBundle> (*deflate)(const Record&)) {
  const std::string input = ReadFile(g_dir / c["input"].get<std::string>());
  const std::string id = ComputeObjectId(input);
  auto value = inflate(id, ObjectContents{{id, input}}, InflateOptions{});
  ASSERT_TRUE(value.ok()) << value.status();
  auto bundle = deflate(*value);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const std::string again = bundle->objects.back().content();
  EXPECT_TRUE(again == ReadFile(g_dir / c["expected"].get<std::string>()))
      << "C++ re-encodes to " << absl::CHexEscape(again);
  auto back =
      inflate(bundle->root_id(), ObjectContents{{bundle->root_id(), again}}, InflateOptions{});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == *value) << "the re-encoded value does not decode to itself";
}

void RunReencodeCase(const Json& c) {
  if (c["record"] == "configrecord") {
    ExpectReencodes<ConfigRecord>(c, InflateConfigRecord, DeflateConfigRecord);
  } else {
    ASSERT_EQ(c["record"], "metricrecord");
    ExpectReencodes<MetricRecord>(c, InflateMetricRecord, DeflateMetricRecord);
  }
}

void RunNpyCase(const Json& c) {
  const std::string npy = ReadFile(g_dir / c["npy"].get<std::string>());
  const std::string raw = ReadFile(g_dir / c["raw"].get<std::string>());
  const auto shape = c["shape"].get<std::vector<int64_t>>();
  if (c["encodable"].get<bool>()) {
    auto array = Array::FromRaw(c["dtype"].get<std::string>(), shape, raw);
    ASSERT_TRUE(array.ok()) << array.status();
    EXPECT_TRUE(array->data == npy) << "np.save bytes differ";
  }
  auto parsed = ParseNpy(npy);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->dtype.name, c["dtype"].get<std::string>());
  EXPECT_EQ(parsed->shape, shape);
  EXPECT_EQ(parsed->fortran_order, c["fortran_order"].get<bool>());
  EXPECT_EQ(parsed->data.size(), raw.size());
  if (!parsed->fortran_order) {
    EXPECT_TRUE(parsed->data == raw);
  }
}

class GoldenCase : public ::testing::Test {
 public:
  GoldenCase(std::function<void()> body) : body_(std::move(body)) {}
  void TestBody() override { body_(); }

 private:
  std::function<void()> body_;
};

void Register(const std::string& suite, const Json& c, void (*fn)(const Json&)) {
  const std::string name = c["name"].get<std::string>();
  ::testing::RegisterTest(
      suite.c_str(), name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
      [c, fn]() -> ::testing::Test* { return new GoldenCase([c, fn] { fn(c); }); });
}

int RegisterCases() {
  std::ifstream in(g_dir / "manifest.json");
  if (!in.good()) {
    std::cerr << "golden_test: no manifest.json in " << g_dir << "\n";
    return 0;
  }
  Json manifest = Json::parse(in);
  int n = 0;
  for (const auto& c : manifest["cases"]) {
    const std::string kind = c["kind"];
    if (kind == "npy") {
      Register("Npy", c, RunNpyCase);
    } else if (kind == "context") {
      Register("ContextProto", c, RunContextCase);
    } else if (kind == "reencode") {
      Register("ReencodesAsPython", c, RunReencodeCase);
    } else {
      Register("DeflateMatchesPython", c, RunDeflateCase);
      Register("InflatesPythonObjects", c, RunInflateCase);
      if (c.contains("native")) Register("NativeValueMatchesPython", c, RunNativeCase);
    }
    ++n;
  }
  return n;
}

}  // namespace
}  // namespace flwr::core

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    std::cerr << "usage: golden_test GOLDEN_DIR [gtest flags]\n";
    return 2;
  }
  flwr::core::g_dir = argv[1];
  if (flwr::core::RegisterCases() == 0) return 2;
  return RUN_ALL_TESTS();
}
