// Writes seed corpora for the libFuzzer targets in tests/fuzz (scripts/fuzz.sh runs it at fuzz
// time into the build directory, beside the inputs committed in tests/fuzz/corpus/):
//   OUT/npy/          .npy files as np.save writes them (EncodeNpy is byte-identical to it) for
//                     several dtypes and shapes, plus valid non-canonical headers (format 2.0
//                     and 3.0, Fortran order, big-endian, double quotes, Python 2 longs);
//   OUT/object_head/  every object content of a few deflated Messages and records;
//   OUT/inflate/      those bundles in fuzz_inflate's framing, some with explicit keys;
//   OUT/proto/        those values as protobuf, in fuzz_proto's framing (a selector byte).
//
// Usage: fuzz_seeds OUT_DIR
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/npy.h"
#include "flwr/core/proto_convert.h"

namespace {

using namespace flwr::core;  // NOLINT
namespace fs = std::filesystem;

// Keep in sync with fuzz_inflate.cc.
constexpr absl::string_view kObjectSeparator = "\n~obj~\n";

template <typename T>
T Must(absl::StatusOr<T> v, absl::string_view what) {
  if (!v.ok()) {
    std::fprintf(stderr, "fuzz_seeds: %s: %s\n", std::string(what).c_str(),
                 v.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(v);
}

void Write(const fs::path& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz_seeds: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

std::string Pattern(size_t n, uint8_t seed) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((seed + 37 * i) & 0x7f);
  return out;
}

// A .npy file with a hand-written header dict, padded as np.save pads (64-byte aligned).
std::string HandNpy(int major, absl::string_view dict, absl::string_view data) {
  const size_t len_size = major == 1 ? 2 : 4;
  std::string header(dict);
  const size_t unpadded = 8 + len_size + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  for (size_t i = 0; i < len_size; ++i)
    out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  return out + header + std::string(data);
}

void WriteNpySeeds(const fs::path& dir) {
  struct Case {
    const char* dtype;
    std::vector<int64_t> shape;
  };
  const std::vector<Case> cases = {
      {"float32", {2, 3}},
      {"int64", {4}},
      {"bool", {}},
      {"uint8", {0}},
      {"complex64", {2}},
      {"float16", {3, 1}},
      {"<U3", {2}},
      {"datetime64[ms]", {2}},
      {"timedelta64[10s]", {1}},
      {">f8", {2}},
      {"|S4", {1}},
      {"float64", {1, 1, 2}},
      {"int8", {5}},
      {"uint32", {0, 7}},
      {"float128", {1}},
  };
  int n = 0;
  for (const Case& c : cases) {
    DType dtype = Must(DTypeFromName(c.dtype), c.dtype);
    const size_t count = static_cast<size_t>(*NumElements(c.shape));
    std::string npy = Must(EncodeNpy(dtype, c.shape, Pattern(count * dtype.itemsize, n)), c.dtype);
    Write(dir / absl::StrCat("np_save_", n++, ".npy"), npy);
  }
  // Valid headers np.save would not write, all readable by np.load.
  Write(dir / "v2.npy",
        HandNpy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", Pattern(8, 1)));
  Write(dir / "v3.npy",
        HandNpy(3, "{'descr': '<U2', 'fortran_order': False, 'shape': (1,), }", Pattern(8, 2)));
  Write(dir / "fortran.npy",
        HandNpy(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", Pattern(24, 3)));
  Write(dir / "big_endian.npy",
        HandNpy(1, "{'descr': '>i2', 'fortran_order': False, 'shape': (3,), }", Pattern(6, 4)));
  Write(dir / "quotes_order.npy",
        HandNpy(1, "{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"|u1\"}",
                Pattern(4, 5)));
  Write(
      dir / "py2_long.npy",
      HandNpy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1L, 2L), }", Pattern(16, 6)));
}

Message SampleMessage() {
  Message m;
  m.metadata.run_id = 42;
  m.metadata.message_id = "dropped-when-deflated";
  m.metadata.src_node_id = 1;
  m.metadata.dst_node_id = 1234567890123ull;
  m.metadata.reply_to_message_id = std::string(64, 'a');
  m.metadata.group_id = "round-1";
  m.metadata.ttl = 3600.5;
  m.metadata.message_type = "train";
  m.metadata.created_at = 1700000000.25;

  ArrayRecord arrays;
  arrays.Set("weights",
             Must(Array::FromFloats({0.5f, -1.0f, 2.25f, 3.0f, 0.0f, -0.0f}, {2, 3}), "weights"));
  arrays.Set("bias", Must(Array::FromRaw("int64", {4}, Pattern(32, 7)), "bias"));
  arrays.Set("same_as_bias", *arrays.Find("bias"));
  arrays.Set("scalar", Must(Array::FromRaw("bool", {}, std::string(1, '\1')), "scalar"));
  arrays.Set("names", Must(Array::FromRaw("<U3", {2}, Pattern(24, 8)), "names"));

  ConfigRecord config;
  config.Set("lr", 0.01);
  config.Set("epochs", int64_t{-3});
  config.Set("big", uint64_t{1} << 63);
  config.Set("flag", true);
  config.Set("name", std::string("h\xc3\xa9llo \xe2\x9c\x93"));
  config.Set("blob", Bytes{std::string("\x00\xff\x01", 3)});
  config.Set("doubles", std::vector<double>{1.5, -2.0});
  config.Set("ints", std::vector<int64_t>{1, -2, 3});
  config.Set("bools", std::vector<bool>{true, false});
  config.Set("strings", std::vector<std::string>{"a", ""});
  config.Set("blobs", std::vector<Bytes>{Bytes{"x"}, Bytes{""}});

  MetricRecord metrics;
  metrics.Set("loss", 0.125);
  metrics.Set("count", int64_t{10});
  metrics.Set("huge", uint64_t{18446744073709551615ull});
  metrics.Set("history", std::vector<double>{0.5, 0.25});
  metrics.Set("steps", std::vector<int64_t>{1, 2});

  RecordDict content;
  content.Set("arrays", arrays);
  content.Set("config", config);
  content.Set("metrics", metrics);
  content.Set("more_arrays", ArrayRecord{});
  m.content = content;
  return m;
}

std::string Frame(const ObjectBundle& bundle, bool with_keys) {
  std::vector<std::string> parts;
  for (const DeflatedObject& obj : bundle.objects) {
    parts.push_back(with_keys ? absl::StrCat("#", obj.object_id, "\n", obj.content())
                              : obj.content());
  }
  return absl::StrJoin(parts, kObjectSeparator);
}

void WriteObjectSeeds(const fs::path& head_dir, const fs::path& inflate_dir) {
  const Message sample = SampleMessage();
  Message error;
  error.metadata.run_id = 7;
  error.metadata.message_type = "query";
  error.error = Error{3, "boom"};
  Message empty;
  empty.content = RecordDict{};

  std::vector<std::pair<std::string, ObjectBundle>> bundles = {
      {"message", Must(DeflateMessage(sample), "message")},
      {"error_message", Must(DeflateMessage(error), "error message")},
      {"empty_message", Must(DeflateMessage(empty), "empty message")},
      {"record_dict", Must(DeflateRecordDict(*sample.content), "record dict")},
      {"array_record",
       Must(DeflateArrayRecord(std::get<ArrayRecord>(*sample.content->Find("arrays"))),
            "array record")},
      {"config_record",
       Must(DeflateConfigRecord(std::get<ConfigRecord>(*sample.content->Find("config"))),
            "config record")},
      {"metric_record",
       Must(DeflateMetricRecord(std::get<MetricRecord>(*sample.content->Find("metrics"))),
            "metric record")},
  };
  absl::flat_hash_set<std::string> written;
  for (const auto& [name, bundle] : bundles) {
    for (const DeflatedObject& obj : bundle.objects) {
      if (written.insert(obj.object_id).second) {
        Write(head_dir / obj.object_id.substr(0, 16), obj.content());
      }
    }
    Write(inflate_dir / name, Frame(bundle, /*with_keys=*/false));
  }
  // Explicit keys: correct ones, and one object stored under the wrong key.
  Write(inflate_dir / "message_keyed", Frame(bundles[0].second, /*with_keys=*/true));
  ObjectBundle wrong = bundles[4].second;
  wrong.objects.front().object_id = std::string(64, '0');
  Write(inflate_dir / "array_record_wrong_key", Frame(wrong, /*with_keys=*/true));
}

}  // namespace

// fuzz_proto's framing: the selector byte (see fuzz_proto.cc), then the serialized proto.
std::string Selected(char selector, const google::protobuf::MessageLite& proto) {
  return std::string(1, selector) + SerializeDeterministic(proto);
}

void WriteProtoSeeds(const fs::path& dir) {
  const Message sample = SampleMessage();
  Message error;
  error.metadata.run_id = 7;
  error.metadata.message_type = "query";
  error.error = Error{3, "boom"};
  Context context;
  context.run_id = 3;
  context.node_id = 5;
  context.node_config.Set("partition-id", int64_t{1});
  context.run_config.Set("lr", 0.1);
  context.run_config.Set("name", std::string("x"));
  context.state = *sample.content;
  const auto& content = *sample.content;
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"message", Selected(0, Must(MessageToProto(sample), "message"))},
      {"error_message", Selected(0, Must(MessageToProto(error), "error"))},
      {"context", Selected(1, Must(ContextToProto(context), "context"))},
      {"record_dict", Selected(2, Must(RecordDictToProto(content), "record dict"))},
      {"config_record",
       Selected(3,
                Must(ConfigRecordToProto(std::get<ConfigRecord>(*content.Find("config"))), "c"))},
      {"metric_record",
       Selected(4,
                Must(MetricRecordToProto(std::get<MetricRecord>(*content.Find("metrics"))), "m"))},
      {"array_record",
       Selected(5, Must(ArrayRecordToProto(std::get<ArrayRecord>(*content.Find("arrays"))), "a"))},
  };
  for (const auto& [name, bytes] : seeds) Write(dir / name, bytes);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* sub : {"npy", "object_head", "inflate", "proto"}) {
    fs::create_directories(out / sub);
  }
  WriteNpySeeds(out / "npy");
  WriteObjectSeeds(out / "object_head", out / "inflate");
  WriteProtoSeeds(out / "proto");
  return 0;
}
