#include "flwr/serverapp/fedavg.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "../temp_path.h"
#include "absl/strings/str_cat.h"
#include "flwr/serverapp/native_server_app.h"
#include "process_maps.h"

namespace flwr::serverapp {
namespace {

core::Array Floats(std::vector<float> values) {
  return *core::Array::FromFloats(values, {static_cast<int64_t>(values.size())});
}

std::vector<float> FloatsOf(const core::Array& array) {
  core::NpyArray npy = *array.Numpy();
  std::vector<float> out(npy.data.size() / sizeof(float));
  std::memcpy(out.data(), npy.data.data(), npy.data.size());
  return out;
}

std::vector<double> DoublesOf(const core::Array& array) {
  core::NpyArray npy = *array.Numpy();
  std::vector<double> out(npy.data.size() / sizeof(double));
  std::memcpy(out.data(), npy.data.data(), npy.data.size());
  return out;
}

core::RecordDict Reply(core::ArrayRecord arrays, core::MetricRecord metrics) {
  core::RecordDict content;
  if (!arrays.empty()) content.Set("arrays", std::move(arrays));
  content.Set("metrics", std::move(metrics));
  return content;
}

TEST(AggregateArrayRecordsTest, Float32MatchesNumpyBitForBit) {
  // numpy 1.26: a = f32[1, .1, 3.7] * (10/30); a += f32[2, .2, -1.3] * (20/30).
  core::RecordDict r1 = Reply({{"w", Floats({1.0f, 0.1f, 3.7f})}}, {{"num-examples", int64_t{10}}});
  core::RecordDict r2 =
      Reply({{"w", Floats({2.0f, 0.2f, -1.3f})}}, {{"num-examples", int64_t{20}}});
  absl::StatusOr<core::ArrayRecord> out = AggregateArrayRecords({&r1, &r2}, "num-examples");
  ASSERT_TRUE(out.ok()) << out.status();
  const core::Array& w = *out->Find("w");
  EXPECT_EQ(w.dtype, "float32");
  EXPECT_EQ(w.shape, std::vector<int64_t>{3});
  EXPECT_EQ(FloatsOf(w), (std::vector<float>{0x1.aaaaacp+0f, 0x1.555556p-3f, 0x1.777778p-2f}));
}

TEST(AggregateArrayRecordsTest, IntegersBecomeFloat64AndKeyOrderIsKept) {
  core::RecordDict r1 = Reply(
      {{"b",
        *core::Array::FromRaw("int64", {2}, std::string("\1\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0", 16))},
       {"a", Floats({1.0f})}},
      {{"num-examples", 1.0}});
  core::RecordDict r2 = Reply(
      {{"b",
        *core::Array::FromRaw("int64", {2}, std::string("\4\0\0\0\0\0\0\0\10\0\0\0\0\0\0\0", 16))},
       {"a", Floats({3.0f})}},
      {{"num-examples", 2.0}});
  absl::StatusOr<core::ArrayRecord> out = AggregateArrayRecords({&r1, &r2}, "num-examples");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->begin()->first, "b");
  EXPECT_EQ(out->Find("b")->dtype, "float64");
  EXPECT_EQ(DoublesOf(*out->Find("b")), (std::vector<double>{3.0, 6.0}));  // numpy: [3.0, 6.0]
  EXPECT_EQ(FloatsOf(*out->Find("a")), (std::vector<float>{1.0f / 3 + 2.0f}));
}

TEST(AggregateArrayRecordsTest, ShapeMismatchIsAnAggregationError) {
  core::RecordDict r1 = Reply({{"w", Floats({1.0f})}}, {{"num-examples", int64_t{1}}});
  core::RecordDict r2 = Reply({{"w", Floats({1.0f, 2.0f})}}, {{"num-examples", int64_t{1}}});
  absl::StatusOr<core::ArrayRecord> out = AggregateArrayRecords({&r1, &r2}, "num-examples");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(ServerAppExitCode(out.status()), 202);
}

TEST(AggregateMetricRecordsTest, WeightedMeanAsPython) {
  core::RecordDict r1 = Reply(
      {},
      {{"train_loss", 1.0}, {"num-examples", int64_t{10}}, {"hist", std::vector<int64_t>{1, 2}}});
  core::RecordDict r2 = Reply({}, {{"train_loss", int64_t{2}},
                                   {"num-examples", int64_t{20}},
                                   {"hist", std::vector<int64_t>{3, 6}}});
  absl::StatusOr<core::MetricRecord> out = AggregateMetricRecords({&r1, &r2}, "num-examples");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->Contains("num-examples"));
  // Python: 1.0 * (10 / 30) + 2 * (20 / 30) == 1.6666666666666665
  EXPECT_EQ(std::get<double>(*out->Find("train_loss")), 1.6666666666666665);
  EXPECT_EQ(MetricRecordRepr(*out),
            "{'train_loss': 1.6666666666666665, 'hist': [2.3333333333333335, 4.666666666666667]}");
}

TEST(MetricRecordReprTest, KeysAreQuotedAsPythonRepr) {
  core::MetricRecord record;
  record.Set("it's", 0.5);
  record.Set("tab\t", int64_t{-1});
  // repr({"it's": 0.5, "tab\t": -1})
  EXPECT_EQ(MetricRecordRepr(record), "{\"it's\": 0.5, 'tab\\t': -1}");
}

TEST(ValidateReplyConsistencyTest, StockReasonsAndExitCode200) {
  core::RecordDict ok = Reply({{"w", Floats({1.0f})}}, {{"num-examples", int64_t{1}}});
  core::RecordDict no_weight = Reply({{"w", Floats({1.0f})}}, {{"loss", 1.0}});
  core::RecordDict other_keys = Reply({{"v", Floats({1.0f})}}, {{"num-examples", int64_t{1}}});
  core::RecordDict list_weight =
      Reply({{"w", Floats({1.0f})}}, {{"num-examples", std::vector<int64_t>{1}}});
  EXPECT_TRUE(ValidateReplyConsistency({&ok, &ok}, "num-examples", true).ok());
  absl::Status s = ValidateReplyConsistency({&no_weight}, "num-examples", true);
  EXPECT_EQ(ServerAppExitCode(s), 200);
  EXPECT_NE(s.message().find("Missing required key `num-examples`"), std::string::npos);
  s = ValidateReplyConsistency({&ok, &other_keys}, "num-examples", true);
  EXPECT_NE(s.message().find("All ArrayRecords must have the same keys"), std::string::npos);
  EXPECT_TRUE(ValidateReplyConsistency({&ok, &other_keys}, "num-examples", false).ok());
  s = ValidateReplyConsistency({&list_weight}, "num-examples", true);
  EXPECT_NE(s.message().find("must be a single value"), std::string::npos);
  core::RecordDict no_arrays = Reply({}, {{"num-examples", int64_t{1}}});
  s = ValidateReplyConsistency({&no_arrays}, "num-examples", true);
  EXPECT_NE(s.message().find("Expected exactly one ArrayRecord"), std::string::npos);
}

// A federation of `nodes` in memory whose ClientApps behave as numpy-echo: train returns
// w + 1 with weight 10 * (index + 1) and train_loss index + 1; evaluate returns the mean.
class FakeGrid : public Grid {
 public:
  explicit FakeGrid(int nodes) : nodes_(nodes) {}
  int online = 0;  // nodes online before `nodes_` are
  int polls = 0;
  std::vector<std::vector<uint64_t>> sent;

  absl::StatusOr<std::vector<uint64_t>> GetNodeIds() override {
    ++polls;
    std::vector<uint64_t> ids;
    const int n = online < nodes_ ? online++ : nodes_;
    for (int i = 0; i < n; ++i) ids.push_back(100 + i);
    return ids;
  }

  absl::StatusOr<std::vector<core::Message>> SendAndReceive(std::vector<core::Message> messages,
                                                            absl::Duration) override {
    std::vector<uint64_t> dst;
    std::vector<core::Message> replies;
    for (const core::Message& m : messages) {
      dst.push_back(m.metadata.dst_node_id);
      const int64_t p = static_cast<int64_t>(m.metadata.dst_node_id) - 100;
      const auto& arrays = std::get<core::ArrayRecord>(*m.content->Find("arrays"));
      const auto& config = std::get<core::ConfigRecord>(*m.content->Find("config"));
      EXPECT_TRUE(config.Contains("server-round"));
      std::vector<float> w = FloatsOf(*arrays.Find("w"));
      core::Message reply;
      reply.metadata.src_node_id = m.metadata.dst_node_id;
      reply.content.emplace();
      if (m.metadata.message_type == "train") {
        for (float& v : w) v += 1.0f;
        reply.content->Set("arrays", core::ArrayRecord{{"w", Floats(w)}});
        reply.content->Set("metrics", core::MetricRecord{{"train_loss", static_cast<double>(p + 1)},
                                                         {"num-examples", 10 * (p + 1)}});
      } else {
        reply.content->Set("metrics", core::MetricRecord{{"eval_loss", static_cast<double>(w[0])},
                                                         {"num-examples", 10 * (p + 1)}});
      }
      replies.push_back(std::move(reply));
    }
    sent.push_back(dst);
    return replies;
  }

 private:
  int nodes_;
};

TEST(SampleNodesTest, WaitsForMinAvailableThenSamplesDistinctNodes) {
  FakeGrid grid(5);
  std::mt19937_64 rng(7);
  int sleeps = 0;
  auto sampled = SampleNodes(grid, 4, 3, rng, [&](absl::Duration) { ++sleeps; });
  ASSERT_TRUE(sampled.ok());
  EXPECT_EQ(sleeps, 4);  // 0, 1, 2, 3 nodes online, then 4
  EXPECT_EQ(sampled->second.size(), 4u);
  EXPECT_EQ(sampled->first.size(), 3u);
  EXPECT_EQ(std::set<uint64_t>(sampled->first.begin(), sampled->first.end()).size(), 3u);
}

TEST(FedAvgTest, FractionAndMinimumsDecideTheSampleSize) {
  FakeGrid grid(4);
  grid.online = 4;
  FedAvgOptions options;
  options.fraction_train = 0.5;  // int(4 * 0.5) = 2
  options.min_train_nodes = 3;   // but at least 3
  options.seed = 1;
  FedAvg fedavg(options);
  auto messages = fedavg.ConfigureTrain(2, {{"w", Floats({0.0f})}}, {{"lr", 0.1}}, grid);
  ASSERT_TRUE(messages.ok());
  ASSERT_EQ(messages->size(), 3u);
  const core::Message& m = messages->front();
  EXPECT_EQ(m.metadata.message_type, "train");
  const auto& config = std::get<core::ConfigRecord>(*m.content->Find("config"));
  EXPECT_EQ(std::get<int64_t>(*config.Find("server-round")), 2);
  EXPECT_EQ(std::get<double>(*config.Find("lr")), 0.1);

  FedAvgOptions no_eval;
  no_eval.fraction_evaluate = 0.0;
  FedAvg skip(no_eval);
  auto evaluate = skip.ConfigureEvaluate(1, {{"w", Floats({0.0f})}}, {}, grid);
  ASSERT_TRUE(evaluate.ok());
  EXPECT_TRUE(evaluate->empty());
}

TEST(FedAvgTest, StartRunsTheRoundsAndAggregates) {
  FakeGrid grid(2);
  grid.online = 2;
  FedAvgOptions options;
  options.seed = 3;
  FedAvg fedavg(options);
  absl::StatusOr<FedAvgResult> result =
      fedavg.Start(grid, {{"w", Floats({0.0f, 0.0f})}}, 3, {}, {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(FloatsOf(*result->arrays.Find("w")), (std::vector<float>{3.0f, 3.0f}));
  ASSERT_EQ(result->train_metrics.size(), 3u);
  EXPECT_EQ(std::get<double>(*result->train_metrics[3].Find("train_loss")), 1.6666666666666665);
  EXPECT_EQ(std::get<double>(*result->evaluate_metrics[2].Find("eval_loss")), 2.0);
  EXPECT_EQ(grid.sent.size(), 6u);  // train + evaluate per round
}

TEST(FedAvgTest, ErrorRepliesAreSkippedAndAllErrorsLeaveTheModel) {
  class FailingGrid : public FakeGrid {
   public:
    FailingGrid() : FakeGrid(2) { online = 2; }
    absl::StatusOr<std::vector<core::Message>> SendAndReceive(std::vector<core::Message> messages,
                                                              absl::Duration) override {
      std::vector<core::Message> replies(messages.size());
      for (core::Message& r : replies) r.error = core::Error{2, "boom"};
      return replies;
    }
  } grid;
  FedAvg fedavg(FedAvgOptions{});
  absl::StatusOr<FedAvgResult> result = fedavg.Start(grid, {{"w", Floats({5.0f})}}, 1, {}, {});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(FloatsOf(*result->arrays.Find("w")), std::vector<float>{5.0f});
  EXPECT_TRUE(result->train_metrics.empty());
}

TEST(FedAvgOptionsFromRunConfigTest, StockDefaultsAndLegacyFractionFit) {
  core::UserConfig config;
  config.Set("fraction-fit", 0.5);
  config.Set("min-available-nodes", int64_t{3});
  absl::StatusOr<FedAvgOptions> options = FedAvgOptionsFromRunConfig(config);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->fraction_train, 0.5);
  EXPECT_EQ(options->fraction_evaluate, 1.0);
  EXPECT_EQ(options->min_train_nodes, 2);
  EXPECT_EQ(options->min_available_nodes, 3);
  config.Set("fraction-train", 1.5);
  EXPECT_FALSE(FedAvgOptionsFromRunConfig(config).ok());
  config.Set("fraction-train", std::string("half"));
  EXPECT_FALSE(FedAvgOptionsFromRunConfig(config).ok());
}

TEST(NpzTest, WriteThenReadRoundTrips) {
  core::ArrayRecord arrays{{"conv.weight", Floats({1.0f, 2.0f})}, {"b", Floats({3.0f})}};
  const std::string path = testing::TempPath("model.npz").string();
  ASSERT_TRUE(WriteNpz(arrays, path).ok());
  absl::StatusOr<core::ArrayRecord> read = ReadNpz(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, arrays);
  EXPECT_EQ(ReadNpz(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(LoadNativeServerAppTest, ClearErrorNamesRequestedAndAvailableApps) {
  core::FabInfo fab;
  absl::StatusOr<NativeServerApp> app = LoadNativeServerApp(BuiltinServerApps(), fab);
  ASSERT_FALSE(app.ok());
  EXPECT_NE(app.status().message().find("selects no native ServerApp"), std::string::npos);
  EXPECT_NE(app.status().message().find("numpy-fedavg"), std::string::npos);
  fab.native.Set("serverapp", "nope");
  app = LoadNativeServerApp(BuiltinServerApps(), fab);
  ASSERT_FALSE(app.ok());
  EXPECT_NE(app.status().message().find("'nope'"), std::string::npos);
  fab.native.Set("serverapp", "numpy-fedavg");
  EXPECT_TRUE(LoadNativeServerApp(BuiltinServerApps(), fab).ok());
}

// No ServerApp of flwr-serverapp loads libtorch, fedavg-cifar-cnn included (its weights come
// from flwr::cnn_weights). A run config that FedAvg rejects ends each run before it reaches
// the grid.
core::Context BadFractionContext() {
  core::Context context;
  context.run_config.Set("fraction-train", std::string("half"));
  return context;
}

TEST(NativeServerAppTest, NoServerAppMapsLibtorch) {
  for (const char* name : {"numpy-fedavg", "fedavg-cifar-cnn"}) {
    FakeGrid grid(0);
    core::Context context = BadFractionContext();
    absl::Status status = (*BuiltinServerApps().Find(name))(grid, context);
    // The app ran: the error is FedAvg's.
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name << ": " << status;
    EXPECT_NE(status.message().find("fraction-train"), std::string::npos) << status;
  }
  EXPECT_FALSE(testutil::MapsFile("libtorch"));
}

}  // namespace
}  // namespace flwr::serverapp
