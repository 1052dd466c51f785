// superlink::Server and supernode::Server started in process on 127.0.0.1 with port 0: they
// serve their APIs, the SuperLink starts the runs of due automations, the SuperNode joins the
// SuperLink, and both stop cleanly.
#include "flwr/superlink/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "flwr/core/http_proto_client.h"
#include "flwr/proto/control.grpc.pb.h"
#include "flwr/proto/runtime.pb.h"
#include "flwr/supernode/server.h"
#include "grpcpp/grpcpp.h"
#include "test_zip.h"

namespace flwr {
namespace {

std::unique_ptr<superlink::Server> StartSuperLink(
    superlink::FleetApiType fleet_api_type = superlink::FleetApiType::kGrpcRere) {
  superlink::ServerOptions options;
  options.runtime_port = 0;
  options.fleet_api_address = "127.0.0.1:0";
  options.fleet_api_type = fleet_api_type;
  options.control_api_address = "127.0.0.1:0";
  options.launch_server_apps = false;
  absl::StatusOr<std::unique_ptr<superlink::Server>> server =
      superlink::Server::Start(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Whether the Runtime API on `port` answers PullPendingTasks (with no tasks).
bool RuntimeApiAnswers(int port) {
  core::HttpProtoClient client("127.0.0.1", port, "SuperExec");
  absl::StatusOr<proto::PullPendingTasksResponse> response =
      client.Call<proto::PullPendingTasksRequest, proto::PullPendingTasksResponse>(
          "/v1/runtime/pull-pending-tasks", proto::PullPendingTasksRequest());
  return response.ok() && response->tasks().empty();
}

TEST(ServerTest, superlink_binds_port_zero_serves_control_and_runtime_and_stops) {
  std::unique_ptr<superlink::Server> server = StartSuperLink();
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->runtime_port(), 0);
  EXPECT_GT(server->fleet_port(), 0);
  EXPECT_GT(server->control_port(), 0);

  auto control = proto::Control::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server->control_port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  proto::ListRunsResponse runs;
  grpc::Status status = control->ListRuns(&context, proto::ListRunsRequest(), &runs);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(runs.run_dict().empty());
  EXPECT_TRUE(RuntimeApiAnswers(server->runtime_port()));

  const int runtime_port = server->runtime_port();
  server->Stop();
  server->Stop();  // idempotent
  EXPECT_FALSE(RuntimeApiAnswers(runtime_port));
}

TEST(ServerTest, superlink_starts_the_runs_of_due_automations) {
  absl::Mutex mu;
  absl::Time now = absl::FromUnixSeconds(1767225600);
  superlink::ServerOptions options;
  options.runtime_port = 0;
  options.fleet_api_address = "";
  options.control_api_address = "";
  options.launch_server_apps = false;
  options.clock = [&] {
    absl::MutexLock lock(&mu);
    return now;
  };
  options.automation_interval = absl::Milliseconds(10);
  absl::StatusOr<std::unique_ptr<superlink::Server>> server =
      superlink::Server::Start(std::move(options));
  ASSERT_TRUE(server.ok()) << server.status();
  superlink::LinkState& state = (*server)->state();

  proto::Automation automation;
  automation.set_federation(std::string(superlink::kDefaultFederation));
  automation.set_flwr_aid(std::string(superlink::kNoAccountId));
  automation.set_next_run_at("2026-01-01T00:01:00+00:00");
  automation.set_remaining_runs(1);
  proto::StartRunRequest request;
  request.mutable_fab()->set_content(test_zip::MakeZip({{"pyproject.toml", R"([project]
name = "app"
version = "1.0.0"

[tool.flwr.app]
publisher = "flwrlabs"

[tool.flwr.app.components]
serverapp = "app.server_app:app"
clientapp = "app.client_app:app"
)"}}));
  const uint64_t id = state.StoreAutomation(automation, request).automation_id();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_TRUE(state.ListRuns(superlink::kNoAccountId).empty());  // not due yet

  {
    absl::MutexLock lock(&mu);
    now += absl::Minutes(1);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (state.ListRuns(superlink::kNoAccountId).empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(state.ListRuns(superlink::kNoAccountId).size(), 1u);
  // The run is stored before the automation is marked finished: wait for that step too.
  superlink::AutomationFilter filter;
  filter.automation_ids = {id};
  while (state.ListAutomations(filter).front().status() == superlink::kAutomationActive &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(state.ListAutomations(filter).front().status(), superlink::kAutomationCompleted);
  EXPECT_EQ(state.ListRuns(superlink::kNoAccountId).size(), 1u);  // and it ran once
}

TEST(ServerTest, superlink_refuses_a_taken_port) {
  // A plain listening socket (gRPC servers share ports through SO_REUSEPORT).
  const int busy = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(busy, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(busy, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(listen(busy, 1), 0);
  ASSERT_EQ(getsockname(busy, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int port = ntohs(address.sin_port);

  superlink::ServerOptions options;
  options.runtime_port = 0;
  options.fleet_api_address = absl::StrCat("127.0.0.1:", port);
  options.control_api_address = "127.0.0.1:0";
  options.launch_server_apps = false;
  absl::StatusOr<std::unique_ptr<superlink::Server>> server =
      superlink::Server::Start(std::move(options));
  close(busy);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().message(),
            absl::StrCat("Port in server address 127.0.0.1:", port, " is already in use."));
}

// Over each Fleet transport: 1.42's HTTP on the SuperLink's one port, 1.36's gRPC and
// GrpcAdapter, and the detecting one (no transport flag) dialling either port.
struct FleetCase {
  supernode::FleetTransportKind kind;
  bool grpc_port;  // dial the gRPC Fleet port, else the HTTP port
};

class SuperNodeServerTest : public ::testing::TestWithParam<FleetCase> {};

INSTANTIATE_TEST_SUITE_P(
    Transports, SuperNodeServerTest,
    ::testing::Values(FleetCase{supernode::FleetTransportKind::kHttp, false},
                      FleetCase{supernode::FleetTransportKind::kGrpcRere, true},
                      FleetCase{supernode::FleetTransportKind::kGrpcAdapter, true},
                      FleetCase{supernode::FleetTransportKind::kDetect, false},
                      FleetCase{supernode::FleetTransportKind::kDetect, true}));

TEST_P(SuperNodeServerTest, joins_the_superlink_serves_its_runtime_api_and_leaves_on_stop) {
  const bool adapter = GetParam().kind == supernode::FleetTransportKind::kGrpcAdapter;
  std::unique_ptr<superlink::Server> link = StartSuperLink(
      adapter ? superlink::FleetApiType::kGrpcAdapter : superlink::FleetApiType::kGrpcRere);
  ASSERT_NE(link, nullptr);

  supernode::ServerOptions options;
  options.fleet.transport = GetParam().kind;
  options.fleet.address =
      absl::StrCat("127.0.0.1:", GetParam().grpc_port ? link->fleet_port() : link->runtime_port());
  options.fleet.insecure = true;
  options.runtime_port = 0;
  options.launch_client_apps = false;
  absl::StatusOr<std::unique_ptr<supernode::Server>> node =
      supernode::Server::Start(std::move(options));
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_GT((*node)->runtime_port(), 0);
  EXPECT_TRUE(RuntimeApiAnswers((*node)->runtime_port()));

  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (link->state().GetOnlineNodeIds().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(link->state().GetOnlineNodeIds().size(), 1u);

  (*node)->Stop();
  EXPECT_TRUE((*node)->Wait().ok());
  EXPECT_TRUE(link->state().GetOnlineNodeIds().empty());
  link->Stop();
}

}  // namespace
}  // namespace flwr
