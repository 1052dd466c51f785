#include "flwr/clientapp/native_client_app.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "fab_for_test.h"
#include "flwr/core/app_runtime_client.h"
#include "process_maps.h"

namespace flwr::clientapp {
namespace {

core::Message Instruction(const std::string& type, std::vector<float> w) {
  core::RecordDict content;
  content.Set("arrays", core::ArrayRecord{
                            {"w", *core::Array::FromFloats(w, {static_cast<int64_t>(w.size())})}});
  return TestInstruction(type, std::move(content));
}

std::vector<float> FloatsOf(const core::Array& array) {
  core::NpyArray npy = *array.Numpy();
  std::vector<float> out(npy.data.size() / sizeof(float));
  std::memcpy(out.data(), npy.data.data(), npy.data.size());
  return out;
}

TEST(NativeClientAppTest, NumpyEchoTrainsAndEvaluatesLikeItsPythonTwin) {
  const std::string fab = MakeFab("[tool.flwr.app.native]\nclientapp = \"numpy-echo\"\n");
  core::Context context;
  context.node_config.Set("partition-id", int64_t{1});
  ClientAppOutcome out =
      RunNativeClientApp(BuiltinClientApps(), fab, Instruction("train", {1.0f, 2.5f}), context);
  ASSERT_EQ(out.sub_status, "completed") << out.details;
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_EQ(out.reply.metadata.reply_to_message_id, "abc");
  EXPECT_EQ(out.reply.metadata.dst_node_id, 1u);
  const auto& arrays = std::get<core::ArrayRecord>(*out.reply.content->Find("arrays"));
  EXPECT_EQ(FloatsOf(*arrays.Find("w")), (std::vector<float>{2.0f, 3.5f}));
  const auto& metrics = std::get<core::MetricRecord>(*out.reply.content->Find("metrics"));
  EXPECT_EQ(std::get<double>(*metrics.Find("train_loss")), 2.0);
  EXPECT_EQ(std::get<int64_t>(*metrics.Find("num-examples")), 20);

  out =
      RunNativeClientApp(BuiltinClientApps(), fab, Instruction("evaluate", {1.0f, 2.0f}), context);
  ASSERT_EQ(out.sub_status, "completed");
  const auto& eval = std::get<core::MetricRecord>(*out.reply.content->Find("metrics"));
  EXPECT_EQ(std::get<double>(*eval.Find("eval_loss")), 1.5);
  EXPECT_EQ(std::get<double>(*eval.Find("eval_acc")), 0.6);
  EXPECT_FALSE(out.reply.content->Contains("arrays"));
}

TEST(NativeClientAppTest, DispatchErrorsAreStockErrorReplies) {
  const std::string fab = MakeFab("[tool.flwr.app.native]\nclientapp = \"numpy-echo\"\n");
  core::Context context;
  ClientAppOutcome out =
      RunNativeClientApp(BuiltinClientApps(), fab, Instruction("bogus", {1.0f}), context);
  EXPECT_EQ(out.sub_status, "failed");
  EXPECT_EQ(out.exit_code, core::exit_code::kTaskProcException);
  ASSERT_TRUE(out.reply.error.has_value());
  EXPECT_EQ(out.reply.error->code, core::kErrorCodeClientAppRaisedException);
  EXPECT_EQ(out.reply.error->reason, "<class 'ValueError'>:<'Invalid message type: bogus'>");
  EXPECT_EQ(out.details, out.reply.error->reason);
  out = RunNativeClientApp(BuiltinClientApps(), fab, Instruction("query.stats", {1.0f}), context);
  EXPECT_EQ(out.reply.error->reason,
            "<class 'ValueError'>:<'No query function registered with name 'stats''>");
  out = RunNativeClientApp(BuiltinClientApps(), fab, Instruction("train.x.y", {1.0f}), context);
  EXPECT_EQ(out.reply.error->reason, "<class 'ValueError'>:<'Invalid message type: train.x.y'>");
}

TEST(NativeClientAppTest, MalformedContentIsAnErrorReplyNotACrash) {
  const std::string fab = MakeFab("[tool.flwr.app.native]\nclientapp = \"numpy-echo\"\n");
  core::Context context;
  core::Message no_arrays = Instruction("train", {1.0f});
  no_arrays.content->Erase("arrays");
  ClientAppOutcome out = RunNativeClientApp(BuiltinClientApps(), fab, no_arrays, context);
  ASSERT_TRUE(out.reply.error.has_value());
  EXPECT_NE(out.reply.error->reason.find("no record 'arrays'"), std::string::npos);
  core::Message bad_data = Instruction("train", {1.0f});
  std::get<core::ArrayRecord>(*bad_data.content->Find("arrays")).Find("w")->data = "junk";
  out = RunNativeClientApp(BuiltinClientApps(), fab, bad_data, context);
  ASSERT_TRUE(out.reply.error.has_value());
  context.node_config.Set("partition-id", std::string("one"));
  out = RunNativeClientApp(BuiltinClientApps(), fab, Instruction("train", {1.0f}), context);
  ASSERT_TRUE(out.reply.error.has_value());
  EXPECT_NE(out.reply.error->reason.find("partition-id"), std::string::npos);
}

TEST(NativeClientAppTest, FabsWithoutAKnownNativeAppGetLoadErrors) {
  core::Context context;
  for (const auto& [fab, needle] : std::vector<std::pair<std::string, std::string>>{
           {MakeFab(""), "selects no native ClientApp"},
           {MakeFab("[tool.flwr.app.native]\nclientapp = \"resnet\"\n"),
            "requests native ClientApp 'resnet'"},
           {"not a zip", "cannot be read"}}) {
    ClientAppOutcome out =
        RunNativeClientApp(BuiltinClientApps(), fab, Instruction("train", {1.0f}), context);
    ASSERT_TRUE(out.reply.error.has_value());
    EXPECT_EQ(out.reply.error->code, core::kErrorCodeLoadClientAppException);
    EXPECT_EQ(out.reply.error->reason.rfind(
                  "An exception was raised when attempting to load `ClientApp`: ", 0),
              0u);
    EXPECT_NE(out.reply.error->reason.find(needle), std::string::npos) << out.reply.error->reason;
    EXPECT_NE(out.reply.error->reason.find("numpy-echo"), std::string::npos);
    EXPECT_EQ(out.sub_status, "failed");
    EXPECT_EQ(out.exit_code, core::exit_code::kTaskProcException);
  }
}

// Stays first: the later tests load libtorch into the process (ctest runs each test alone).
TEST(NativeClientAppTest, NumpyEchoNeverMapsLibtorch) {
  const std::string fab = MakeFab("[tool.flwr.app.native]\nclientapp = \"numpy-echo\"\n");
  core::Context context;
  context.node_config.Set("partition-id", int64_t{0});
  ClientAppOutcome out =
      RunNativeClientApp(BuiltinClientApps(), fab, Instruction("train", {1.0f}), context);
  EXPECT_EQ(out.sub_status, "completed") << out.details;
  EXPECT_FALSE(testutil::MapsFile("libtorch"));
  EXPECT_FALSE(testutil::MapsFile("flwr-clientapp-cnn"));
}

TEST(NativeClientAppTest, CifarCnnLoadsItsLibtorchModuleOnDemand) {
  ASSERT_FALSE(testutil::MapsFile("libtorch"));
  ::setenv("FLWR_CLIENTAPP_CNN_MODULE", FLWR_TEST_CLIENTAPP_CNN_MODULE, 1);
  absl::StatusOr<std::unique_ptr<NativeClientApp>> app = BuiltinClientApps().Create("cifar-cnn");
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_TRUE(testutil::MapsFile("flwr-clientapp-cnn.so"));
  EXPECT_TRUE(testutil::MapsFile("libtorch"));
}

TEST(NativeClientAppTest, AMissingModuleGivesALoadErrorReply) {
  ::setenv("FLWR_CLIENTAPP_CNN_MODULE", "/nonexistent/flwr-clientapp-cnn.so", 1);
  const std::string fab = MakeFab("[tool.flwr.app.native]\nclientapp = \"cifar-cnn\"\n");
  core::Context context;
  ClientAppOutcome out =
      RunNativeClientApp(BuiltinClientApps(), fab, Instruction("train", {1.0f}), context);
  ASSERT_TRUE(out.reply.error.has_value());
  EXPECT_EQ(out.reply.error->code, core::kErrorCodeLoadClientAppException);
  const std::string& reason = out.reply.error->reason;
  EXPECT_NE(reason.find("native ClientApp 'cifar-cnn'"), std::string::npos) << reason;
  EXPECT_NE(reason.find("cannot load native app module /nonexistent/flwr-clientapp-cnn.so"),
            std::string::npos)
      << reason;
  EXPECT_NE(reason.find("FLWR_CLIENTAPP_CNN_MODULE"), std::string::npos) << reason;
  EXPECT_EQ(out.exit_code, core::exit_code::kTaskProcException);
}

}  // namespace
}  // namespace flwr::clientapp
