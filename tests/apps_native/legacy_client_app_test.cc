// The native ClientApps serve legacy ServerApps (`flwr.server.strategy`): instructions in the
// content layout flwr's compat functions build (FitIns, EvaluateIns, GetParametersIns,
// GetPropertiesIns), answered as a stock NumPyClient answers.
//
// The numpy-echo tests build the legacy layout here, as parameters_to_arrayrecord does. The
// cifar-cnn test gets its instructions from the pinned stock flwr at test time
// (legacy_fixtures.py make, run with the project's venv Python; FLWR_TEST_PYTHON overrides it)
// and has stock flwr judge the replies (legacy_fixtures.py check): same bytes and object IDs
// as the stock NumPyClient path, the Python twin's numbers, the stock legacy FedAvg.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../temp_path.h"
#include "absl/strings/str_cat.h"
#include "fab_for_test.h"
#include "flwr/clientapp/legacy_messages.h"
#include "flwr/clientapp/native_client_app.h"
#include "flwr/core/app_runtime_client.h"
#include "flwr/core/proto_convert.h"

namespace flwr::clientapp {
namespace {

namespace fs = std::filesystem;

const std::string& EchoFab() {
  static const std::string* fab =
      new std::string(MakeFab("[tool.flwr.app.native]\nclientapp = \"numpy-echo\"\n"));
  return *fab;
}

// Also points BuiltinClientApps() at the built libtorch module (flwr-clientapp-cnn.so), which
// is not beside this test.
const std::string& CnnFab() {
  static const std::string* fab = [] {
    ::setenv("FLWR_CLIENTAPP_CNN_MODULE", FLWR_TEST_CLIENTAPP_CNN_MODULE, 1);
    return new std::string(MakeFab("[tool.flwr.app.native]\nclientapp = \"cifar-cnn\"\n"));
  }();
  return *fab;
}

core::Message Legacy(const std::string& type, core::RecordDict content) {
  return TestInstruction(type, std::move(content));
}

// np.save bytes of a float32 / float64 array.
std::string F32(std::vector<float> values, std::vector<int64_t> shape) {
  return core::Array::FromFloats(values, std::move(shape))->data.str();
}
std::string F64(std::vector<double> values, std::vector<int64_t> shape) {
  const std::string raw(reinterpret_cast<const char*>(values.data()),
                        values.size() * sizeof(double));
  return core::Array::FromRaw("float64", std::move(shape), raw)->data.str();
}

// flwr's parameters_to_arrayrecord(ndarrays_to_parameters(...)).
core::ArrayRecord Parameters(const std::vector<std::string>& tensors) {
  core::ArrayRecord record;
  for (size_t i = 0; i < tensors.size(); ++i) {
    record.Set(absl::StrCat(i), core::Array{"", {}, "numpy.ndarray", tensors[i]});
  }
  if (tensors.empty()) record.Set("_empty", core::Array{"", {}, "numpy.ndarray", ""});
  return record;
}

// flwr's fitins_to_recorddict / evaluateins_to_recorddict.
core::RecordDict Ins(const std::string& prefix, core::ArrayRecord parameters,
                     core::ConfigRecord config) {
  core::RecordDict content;
  content.Set(prefix + ".parameters", std::move(parameters));
  content.Set(prefix + ".config", std::move(config));
  return content;
}

std::vector<std::string> Keys(const core::RecordDict& content) {
  std::vector<std::string> keys;
  for (const auto& [key, record] : content) keys.push_back(key);
  return keys;
}

template <typename R>
const R& RecordOf(const core::RecordDict& content, const std::string& key) {
  const core::Record* record = content.Find(key);
  EXPECT_NE(record, nullptr) << key;
  EXPECT_TRUE(std::holds_alternative<R>(*record)) << key;
  return std::get<R>(*record);
}

void ExpectStatus(const core::RecordDict& content, const std::string& key, int64_t code,
                  const std::string& message) {
  const auto& status = RecordOf<core::ConfigRecord>(content, key);
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status.begin()->first, "code");
  EXPECT_EQ(std::get<int64_t>(*status.Find("code")), code);
  EXPECT_EQ(std::get<std::string>(*status.Find("message")), message);
}

TEST(LegacyClientAppTest, NumpyEchoAnswersFitInsAsAStockNumPyClient) {
  core::Context context;
  context.node_config.Set("partition-id", int64_t{1});
  core::ConfigRecord config;
  config.Set("lr", 0.1);
  const core::Message fit =
      Legacy("train",
             Ins("fitins", Parameters({F32({1.0f, 2.5f}, {2}), F64({0.5, -1.0}, {2, 1})}), config));
  ClientAppOutcome out = RunNativeClientApp(BuiltinClientApps(), EchoFab(), fit, context);
  ASSERT_EQ(out.sub_status, "completed") << out.details;
  const core::RecordDict& reply = *out.reply.content;
  // fitres_to_recorddict's records, in its order.
  EXPECT_EQ(Keys(reply), (std::vector<std::string>{"fitres.metrics", "fitres.num_examples",
                                                   "fitres.parameters", "fitres.status"}));
  const auto& metrics = RecordOf<core::ConfigRecord>(reply, "fitres.metrics");
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(std::get<double>(*metrics.Find("train_loss")), 2.0);
  const auto& num_examples = RecordOf<core::MetricRecord>(reply, "fitres.num_examples");
  ASSERT_EQ(num_examples.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(*num_examples.Find("num_examples")), 20);
  EXPECT_EQ(RecordOf<core::ArrayRecord>(reply, "fitres.parameters"),
            Parameters({F32({2.0f, 3.5f}, {2}), F64({1.5, 0.0}, {2, 1})}));
  ExpectStatus(reply, "fitres.status", 0, "Success");
}

TEST(LegacyClientAppTest, NumpyEchoAnswersEvaluateInsAsAStockNumPyClient) {
  core::Context context;
  context.node_config.Set("partition-id", int64_t{1});
  const core::Message evaluate =
      Legacy("evaluate", Ins("evaluateins", Parameters({F32({1.0f, 2.0f}, {2})}), {}));
  ClientAppOutcome out = RunNativeClientApp(BuiltinClientApps(), EchoFab(), evaluate, context);
  ASSERT_EQ(out.sub_status, "completed") << out.details;
  const core::RecordDict& reply = *out.reply.content;
  EXPECT_EQ(Keys(reply), (std::vector<std::string>{"evaluateres.loss", "evaluateres.num_examples",
                                                   "evaluateres.metrics", "evaluateres.status"}));
  const auto& loss = RecordOf<core::MetricRecord>(reply, "evaluateres.loss");
  ASSERT_EQ(loss.size(), 1u);
  EXPECT_EQ(std::get<double>(*loss.Find("loss")), 1.5);
  EXPECT_EQ(
      std::get<int64_t>(
          *RecordOf<core::MetricRecord>(reply, "evaluateres.num_examples").Find("num_examples")),
      20);
  // The app's metrics but the example count, as a ConfigRecord.
  const auto& metrics = RecordOf<core::ConfigRecord>(reply, "evaluateres.metrics");
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_EQ(metrics.begin()->first, "eval_loss");
  EXPECT_EQ(std::get<double>(*metrics.Find("eval_loss")), 1.5);
  EXPECT_EQ(std::get<double>(*metrics.Find("eval_acc")), 0.6);
  ExpectStatus(reply, "evaluateres.status", 0, "Success");
}

TEST(LegacyClientAppTest, EmptyParametersStayEmpty) {
  core::Context context;
  const core::Message fit = Legacy("train", Ins("fitins", Parameters({}), {}));
  ClientAppOutcome out = RunNativeClientApp(BuiltinClientApps(), EchoFab(), fit, context);
  ASSERT_EQ(out.sub_status, "completed") << out.details;
  EXPECT_EQ(RecordOf<core::ArrayRecord>(*out.reply.content, "fitres.parameters"), Parameters({}));
}

TEST(LegacyClientAppTest, QueriesAreAnsweredAsByANumPyClientWithoutThem) {
  core::Context context;
  core::RecordDict get_parameters;
  get_parameters.Set("getparametersins.config", core::ConfigRecord{});
  ClientAppOutcome out = RunNativeClientApp(BuiltinClientApps(), EchoFab(),
                                            Legacy("get_parameters", get_parameters), context);
  ASSERT_EQ(out.sub_status, "completed") << out.details;
  EXPECT_EQ(Keys(*out.reply.content),
            (std::vector<std::string>{"getparametersres.parameters", "getparametersres.status"}));
  // Parameters(tensor_type="", tensors=[]) as parameters_to_arrayrecord stores it.
  EXPECT_EQ(RecordOf<core::ArrayRecord>(*out.reply.content, "getparametersres.parameters"),
            (core::ArrayRecord{{"_empty", core::Array{"", {}, "", ""}}}));
  ExpectStatus(*out.reply.content, "getparametersres.status", 2,
               "Client does not implement `get_parameters`");

  core::RecordDict get_properties;
  get_properties.Set("getpropertiesins.config", core::ConfigRecord{});
  out = RunNativeClientApp(BuiltinClientApps(), EchoFab(), Legacy("get_properties", get_properties),
                           context);
  ASSERT_EQ(out.sub_status, "completed") << out.details;
  EXPECT_EQ(Keys(*out.reply.content),
            (std::vector<std::string>{"getpropertiesres.properties", "getpropertiesres.status"}));
  EXPECT_TRUE(
      RecordOf<core::ConfigRecord>(*out.reply.content, "getpropertiesres.properties").empty());
  ExpectStatus(*out.reply.content, "getpropertiesres.status", 1,
               "Client does not implement `get_properties`");
}

TEST(LegacyClientAppTest, MalformedLegacyInstructionsGetErrorReplies) {
  core::Context context;
  auto reason_of = [&](const std::string& fab, const core::Message& message) {
    ClientAppOutcome out = RunNativeClientApp(BuiltinClientApps(), fab, message, context);
    EXPECT_EQ(out.sub_status, "failed");
    EXPECT_TRUE(out.reply.error.has_value());
    return out.reply.error.has_value() ? out.reply.error->reason : std::string();
  };
  core::ArrayRecord torch_tensors = Parameters({F32({1.0f}, {1})});
  torch_tensors.Find("0")->stype = "torch.Tensor";
  EXPECT_NE(reason_of(EchoFab(), Legacy("train", Ins("fitins", torch_tensors, {})))
                .find("tensor_type 'torch.Tensor' are not supported"),
            std::string::npos);
  EXPECT_NE(reason_of(EchoFab(), Legacy("train", Ins("fitins", Parameters({"junk"}), {})))
                .find("Legacy tensor 0 is not .npy"),
            std::string::npos);
  core::RecordDict no_config;
  no_config.Set("evaluateins.parameters", Parameters({F32({1.0f}, {1})}));
  EXPECT_NE(
      reason_of(EchoFab(), Legacy("evaluate", no_config)).find("no record 'evaluateins.config'"),
      std::string::npos);
  // The CNN takes its 10 state_dict tensors, nothing else (before it looks for data).
  EXPECT_NE(reason_of(CnnFab(), Legacy("train", Ins("fitins", Parameters({F32({1.0f}, {1})}), {})))
                .find("hold 1 tensors; this app takes 10 (conv1.weight, conv1.bias"),
            std::string::npos);
}

TEST(LegacyClientAppTest, AppsThatDoNotServeLegacyMessagesKeepStockDispatch) {
  // A handler that echoes its content and reports one example.
  NativeClientApp app;
  app.Register("train", "default",
               [](const core::Message& m, core::Context&) -> absl::StatusOr<core::RecordDict> {
                 core::RecordDict reply = *m.content;
                 reply.Set("metrics", core::MetricRecord{{"num-examples", int64_t{1}}});
                 return reply;
               });
  core::Context context;
  const core::Message fit = Legacy("train", Ins("fitins", Parameters({F32({1.0f}, {1})}), {}));
  // A message-API ClientApp: the content goes to the handler as it is, and legacy queries are
  // invalid message types, as flwr's ClientApp says.
  EXPECT_EQ(Keys(*app.Handle(fit, context)),
            (std::vector<std::string>{"fitins.parameters", "fitins.config", "metrics"}));
  EXPECT_EQ(app.Handle(Legacy("get_parameters", {}), context).status().message(),
            "Invalid message type: get_parameters");
  // Serving legacy messages leaves message-API content alone.
  app.ServeLegacyMessages(LegacyOptions{});
  core::RecordDict message_api;
  message_api.Set("arrays", Parameters({F32({1.0f}, {1})}));
  EXPECT_EQ(Keys(*app.Handle(Legacy("train", message_api), context)),
            (std::vector<std::string>{"arrays", "metrics"}));
  absl::StatusOr<core::RecordDict> legacy = app.Handle(fit, context);
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  EXPECT_EQ(Keys(*legacy).front(), "fitres.metrics");
  // A handler's reply without the example count is an error, not a crash.
  app.Register("train", "default",
               [](const core::Message& m, core::Context&) -> absl::StatusOr<core::RecordDict> {
                 core::RecordDict reply = *m.content;
                 reply.Set("metrics", core::MetricRecord{{"num-examples", 1.5}});
                 return reply;
               });
  EXPECT_EQ(app.Handle(fit, context).status().message(),
            "The app's metric 'num-examples' is not an int");
}

// --- cifar-cnn against the pinned stock flwr ----------------------------------------------

std::string Python() {
  if (const char* python = std::getenv("FLWR_TEST_PYTHON")) return python;
  return FLWR_TEST_VENV_PYTHON;
}

// Runs `legacy_fixtures.py <mode> <dir>`; returns its exit status and output.
std::pair<int, std::string> RunFixtures(const std::string& mode, const fs::path& dir) {
  const std::string command = absl::StrCat("'", Python(), "' '", FLWR_TEST_LEGACY_FIXTURES, "' ",
                                           mode, " '", dir.string(), "' 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

core::RecordDict ReadRecordDict(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  proto::RecordDict proto;
  EXPECT_TRUE(proto.ParseFromString(bytes.str())) << path;
  absl::StatusOr<core::RecordDict> content = core::RecordDictFromProto(proto);
  EXPECT_TRUE(content.ok()) << content.status();
  return content.ok() ? *std::move(content) : core::RecordDict();
}

void WriteReply(const fs::path& path, const ClientAppOutcome& out) {
  ASSERT_EQ(out.sub_status, "completed") << path << ": " << out.details;
  absl::StatusOr<proto::RecordDict> proto = core::RecordDictToProto(*out.reply.content);
  ASSERT_TRUE(proto.ok()) << proto.status();
  std::ofstream(path, std::ios::binary) << core::SerializeDeterministic(*proto);
}

TEST(LegacyClientAppTest, CifarCnnServesTheStockLegacyFedAvg) {
  const fs::path dir = testing::TempPath("fixtures");
  fs::remove_all(dir);
  fs::create_directories(dir / "out");
  auto [made, make_output] = RunFixtures("make", dir);
  ASSERT_EQ(made, 0) << make_output;

  const core::RecordDict fitins = ReadRecordDict(dir / "in" / "fitins.pb");
  const core::RecordDict evaluateins = ReadRecordDict(dir / "in" / "evaluateins.pb");
  ASSERT_TRUE(IsLegacyInstruction("train", fitins));
  ASSERT_TRUE(IsLegacyInstruction("evaluate", evaluateins));
  for (int64_t partition = 0; partition < 2; ++partition) {
    core::Context context;
    context.node_config.Set("data-path", (dir / "data").string());
    context.node_config.Set("partition-id", partition);
    context.node_config.Set("num-partitions", int64_t{2});
    context.run_config.Set("local-epochs", int64_t{1});
    context.run_config.Set("lr", 0.1);  // the FitIns config's lr (0.05) wins
    context.run_config.Set("batch-size", int64_t{16});
    WriteReply(dir / "out" / absl::StrCat("fit_", partition, ".pb"),
               RunNativeClientApp(BuiltinClientApps(), CnnFab(), Legacy("train", fitins), context));
    WriteReply(dir / "out" / absl::StrCat("evaluate_", partition, ".pb"),
               RunNativeClientApp(BuiltinClientApps(), CnnFab(), Legacy("evaluate", evaluateins),
                                  context));
  }
  for (int64_t seed : {42, 3}) {
    core::Context context;  // no data needed
    context.run_config.Set("seed", seed);
    WriteReply(
        dir / "out" / absl::StrCat("get_parameters_", seed, ".pb"),
        RunNativeClientApp(
            BuiltinClientApps(), CnnFab(),
            Legacy("get_parameters", ReadRecordDict(dir / "in" / "getparametersins.pb")), context));
  }
  core::Context context;
  WriteReply(
      dir / "out" / "get_properties.pb",
      RunNativeClientApp(
          BuiltinClientApps(), CnnFab(),
          Legacy("get_properties", ReadRecordDict(dir / "in" / "getpropertiesins.pb")), context));
  if (HasFatalFailure()) return;

  auto [checked, check_output] = RunFixtures("check", dir);
  EXPECT_EQ(checked, 0) << check_output;
  EXPECT_TRUE(check_output.ends_with("\nOK\n")) << check_output;
  if (!HasFailure()) fs::remove_all(dir);  // kept for a look when something failed
}

}  // namespace
}  // namespace flwr::clientapp
