// The GrpcAdapter transport: the envelope (core/grpc_adapter.h), the SuperLink's dispatch of
// SendReceive to FleetService (superlink GrpcAdapterServicer) and the SuperNode's transport
// over it, with the stock answers for unknown names, unparsable content and "should-exit".
#include "flwr/core/grpc_adapter.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/object_store.h"
#include "flwr/core/runtime_version.h"
#include "flwr/proto/fleet.pb.h"
#include "flwr/proto/heartbeat.pb.h"
#include "flwr/superlink/grpc_servicers.h"
#include "flwr/supernode/fleet_transport.h"
#include "grpcpp/grpcpp.h"

namespace flwr {
namespace {

TEST(GrpcAdapterEnvelopeTest, names_the_message_and_its_python_module_as_flwr_does) {
  proto::SendNodeHeartbeatRequest request;
  request.mutable_node()->set_node_id(7);
  const proto::MessageContainer container = core::ToMessageContainer(request, "1.36.0");
  EXPECT_EQ(container.grpc_message_name(), "SendNodeHeartbeatRequest");
  EXPECT_EQ(container.grpc_message_content(), request.SerializeAsString());
  const auto& metadata = container.metadata();
  EXPECT_EQ(metadata.at("flower-package-name"), "flwr");
  EXPECT_EQ(metadata.at("flower-package-version"), "1.36.0");
  EXPECT_EQ(metadata.at("flower-version"), "1.36.0");
  EXPECT_EQ(metadata.at("grpc-message-module"), "flwr.proto.heartbeat_pb2");
  EXPECT_EQ(metadata.at("grpc-message-qualname"), "SendNodeHeartbeatRequest");

  proto::SendNodeHeartbeatRequest back;
  ASSERT_TRUE(core::FromMessageContainer(container, &back).ok());
  EXPECT_EQ(back.node().node_id(), 7u);
}

TEST(GrpcAdapterEnvelopeTest, another_type_or_bad_content_is_unknown_in_flwr_words) {
  proto::MessageContainer container =
      core::ToMessageContainer(proto::PullMessagesResponse(), "1.36.0");
  proto::PushMessagesResponse push;
  absl::Status wrong = core::FromMessageContainer(container, &push);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(wrong.message(),
            "Invalid grpc_message_name. Expected PushMessagesResponse, but got "
            "PullMessagesResponse.");
  container.set_grpc_message_name("PushMessagesResponse");
  container.set_grpc_message_content("\xff\xff\xff");
  absl::Status garbage = core::FromMessageContainer(container, &push);
  EXPECT_EQ(garbage.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(garbage.message(), "Error parsing message with type 'flwr.proto.PushMessagesResponse'");
}

class GrpcAdapterServicerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<superlink::LinkState>> state =
        superlink::LinkState::Open(core::kInMemoryDatabase);
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = *std::move(state);
    fleet_ = std::make_unique<superlink::FleetService>(state_.get());
    servicer_ = std::make_unique<superlink::GrpcAdapterServicer>(fleet_.get());
  }

  grpc::Status SendReceive(const proto::MessageContainer& request,
                           proto::MessageContainer* response) {
    grpc::ServerContext context;
    return servicer_->SendReceive(&context, &request, response);
  }

  std::unique_ptr<superlink::LinkState> state_;
  std::unique_ptr<superlink::FleetService> fleet_;
  std::unique_ptr<superlink::GrpcAdapterServicer> servicer_;
};

TEST_F(GrpcAdapterServicerTest, dispatches_by_message_name_without_node_auth) {
  proto::RegisterNodeFleetRequest register_node;
  register_node.set_public_key("key");
  proto::MessageContainer answer;
  grpc::Status status = SendReceive(core::ToMessageContainer(register_node, "1.36.0"), &answer);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(answer.grpc_message_name(), "RegisterNodeFleetResponse");
  EXPECT_EQ(answer.metadata().at("grpc-message-module"), "flwr.proto.fleet_pb2");
  // A caller without version metadata is of the oldest line (the adapter's 1.36).
  EXPECT_EQ(answer.metadata().at("flower-package-version"), core::OldestSupportedFlowerVersion());
  proto::RegisterNodeFleetResponse registered;
  ASSERT_TRUE(core::FromMessageContainer(answer, &registered).ok());

  proto::ActivateNodeRequest activate;
  activate.set_public_key("key");
  activate.set_heartbeat_interval(30);
  status = SendReceive(core::ToMessageContainer(activate, "1.36.0"), &answer);
  ASSERT_TRUE(status.ok()) << status.error_message();
  proto::ActivateNodeResponse activated;
  ASSERT_TRUE(core::FromMessageContainer(answer, &activated).ok());
  EXPECT_EQ(activated.node_id(), registered.node_id());
  EXPECT_EQ(state_->GetOnlineNodeIds().size(), 1u);
}

TEST_F(GrpcAdapterServicerTest, failures_are_unknown_exceptions_as_grpcio_answers_them) {
  proto::MessageContainer request;
  request.set_grpc_message_name("Foo");
  proto::MessageContainer answer;
  grpc::Status status = SendReceive(request, &answer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(),
            "Exception calling application: Invalid grpc_message_name: Foo");

  request.set_grpc_message_name("RegisterNodeFleetRequest");
  request.set_grpc_message_content("\xff\xff\xff");
  status = SendReceive(request, &answer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(),
            "Exception calling application: Error parsing message with type "
            "'flwr.proto.RegisterNodeFleetRequest'");

  proto::ActivateNodeRequest unknown_key;
  unknown_key.set_public_key("nobody");
  unknown_key.set_heartbeat_interval(30);
  status = SendReceive(core::ToMessageContainer(unknown_key, "1.36.0"), &answer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_TRUE(absl::StartsWith(status.error_message(), "Exception calling application: "))
      << status.error_message();
}

// A GrpcAdapter SuperLink that answers every request with `answer`.
class FakeAdapter final : public proto::GrpcAdapter::Service {
 public:
  explicit FakeAdapter(proto::MessageContainer answer) : answer_(std::move(answer)) {}
  grpc::Status SendReceive(grpc::ServerContext*, const proto::MessageContainer* request,
                           proto::MessageContainer* response) override {
    last_name_ = request->grpc_message_name();
    *response = answer_;
    return grpc::Status::OK;
  }
  std::string last_name_;

 private:
  const proto::MessageContainer answer_;
};

absl::Status CallThroughFake(FakeAdapter& fake, std::function<void()> on_should_exit) {
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&fake);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  absl::StatusOr<core::NodeKey> key = core::NodeKey::Generate();
  EXPECT_TRUE(key.ok());
  supernode::FleetTransportOptions options;
  options.kind = supernode::FleetTransportKind::kGrpcAdapter;
  options.address = absl::StrCat("127.0.0.1:", port);
  options.on_should_exit = std::move(on_should_exit);
  absl::StatusOr<std::unique_ptr<supernode::FleetTransport>> transport =
      supernode::FleetTransport::Create(options, *std::move(key));
  EXPECT_TRUE(transport.ok());
  proto::PullMessagesResponse response;
  absl::Status status = (*transport)->Call(proto::PullMessagesRequest(), &response);
  server->Shutdown();
  return status;
}

TEST(GrpcAdapterTransportTest, sends_the_request_by_name_and_checks_the_answers_name) {
  FakeAdapter fake(core::ToMessageContainer(proto::PushMessagesResponse(), "1.36.0"));
  absl::Status status = CallThroughFake(fake, nullptr);
  EXPECT_EQ(fake.last_name_, "PullMessagesRequest");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_FALSE(supernode::IsExitRequested(status));
}

TEST(GrpcAdapterTransportTest, should_exit_runs_the_exit_action_and_fails_the_call) {
  proto::MessageContainer answer =
      core::ToMessageContainer(proto::PullMessagesResponse(), "1.36.0");
  (*answer.mutable_metadata())["should-exit"] = "true";
  FakeAdapter fake(answer);
  std::atomic<int> exits = 0;
  absl::Status status = CallThroughFake(fake, [&] { ++exits; });
  EXPECT_EQ(exits.load(), 1);
  EXPECT_TRUE(supernode::IsExitRequested(status)) << status;

  (*answer.mutable_metadata())["should-exit"] = "false";
  FakeAdapter staying(answer);
  EXPECT_TRUE(CallThroughFake(staying, [&] { ++exits; }).ok());
  EXPECT_EQ(exits.load(), 1);
}

}  // namespace
}  // namespace flwr
