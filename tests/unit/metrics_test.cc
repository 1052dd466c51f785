// ServerMetrics: calls to an HttpProtoServer and a gRPC server are counted, and GET /metrics
// over a real loopback socket serves them in Prometheus' text format.
#include "flwr/core/metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "flwr/core/http_proto_client.h"
#include "flwr/core/http_proto_server.h"
#include "flwr/proto/fleet.grpc.pb.h"
#include "flwr/proto/fleet.pb.h"
#include "flwr/proto/runtime.pb.h"
#include "grpcpp/grpcpp.h"
#include "httplib.h"

namespace flwr::core {
namespace {

std::string Get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  auto result = client.Get(path.c_str());
  if (!result) return "no response";
  EXPECT_EQ(result->status, 200);
  return result->body;
}

class Fleet final : public proto::Fleet::Service {
  grpc::Status PushMessages(grpc::ServerContext*, const proto::PushMessagesRequest*,
                            proto::PushMessagesResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status PullMessages(grpc::ServerContext*, const proto::PullMessagesRequest*,
                            proto::PullMessagesResponse* response) override {
    response->add_messages_list();
    response->add_messages_list();
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "none");
  }
};

TEST(ServerMetricsTest, CountsHttpAndGrpcCallsAndServesThem) {
  ServerMetrics metrics("superlink");
  int runs = 3;
  metrics.AddGauge("runs", "Runs by status", [&runs] {
    return std::vector<ServerMetrics::Sample>{{{{"status", "running"}}, double(runs)},
                                              {{{"status", "finished:completed"}}, 1}};
  });
  const auto observe_round = metrics.AddHistogram("round_seconds", "Round time");
  observe_round(absl::Seconds(2));
  ASSERT_TRUE(metrics.Serve("127.0.0.1:0").ok());
  ASSERT_GT(metrics.port(), 0);
  EXPECT_EQ(metrics.Serve("127.0.0.1:0").code(), absl::StatusCode::kFailedPrecondition);

  // HTTP: two good calls and one error.
  HttpProtoServerOptions options;
  options.on_call = metrics.HttpCallRecorder("runtime");
  HttpProtoServer http(options);
  http.AddUnary<proto::SendTaskHeartbeatRequest, proto::SendTaskHeartbeatResponse>(
      "/v1/runtime/send-task-heartbeat",
      [](proto::SendTaskHeartbeatRequest&,
         const HttpRequestContext& context) -> absl::StatusOr<proto::SendTaskHeartbeatResponse> {
        if (context.Header("x-fail")) return absl::NotFoundError("no");
        proto::SendTaskHeartbeatResponse response;
        response.set_success(true);
        return response;
      });
  ASSERT_TRUE(http.Start("127.0.0.1", 0).ok());
  HttpProtoClient client("127.0.0.1", http.port(), "test");
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE((client.Call<proto::SendTaskHeartbeatRequest, proto::SendTaskHeartbeatResponse>(
                     "/v1/runtime/send-task-heartbeat", {}))
                    .ok());
  }
  EXPECT_FALSE((client.Call<proto::SendTaskHeartbeatRequest, proto::SendTaskHeartbeatResponse>(
                    "/v1/runtime/send-task-heartbeat", {}, {{"x-fail", "1"}}))
                   .ok());
  http.Stop();

  // gRPC: a push of three messages, a pull whose response holds two (but fails).
  Fleet fleet;
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &grpc_port);
  builder.RegisterService(&fleet);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(metrics.GrpcInterceptor("fleet"));
  builder.experimental().SetInterceptorCreators(std::move(creators));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_GT(grpc_port, 0);
  auto stub = proto::Fleet::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port),
                                                        grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    proto::PushMessagesRequest request;
    for (int i = 0; i < 3; ++i) request.add_messages_list();
    proto::PushMessagesResponse response;
    ASSERT_TRUE(stub->PushMessages(&context, request, &response).ok());
  }
  {
    grpc::ClientContext context;
    proto::PullMessagesResponse response;
    EXPECT_EQ(stub->PullMessages(&context, {}, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  server->Shutdown();

  runs = 4;
  const std::string text = Get(metrics.port(), "/metrics");
  for (
      const char* expected : {
          R"(flwr_superlink_requests_total{api="runtime",code="200",route="/v1/runtime/send-task-heartbeat"} 2)",
          R"(flwr_superlink_requests_total{api="runtime",code="404",route="/v1/runtime/send-task-heartbeat"} 1)",
          R"(flwr_superlink_request_duration_seconds_count{api="runtime",route="/v1/runtime/send-task-heartbeat"} 3)",
          R"(flwr_superlink_requests_total{api="fleet",code="OK",route="/flwr.proto.Fleet/PushMessages"} 1)",
          R"(flwr_superlink_requests_total{api="fleet",code="NOT_FOUND",route="/flwr.proto.Fleet/PullMessages"} 1)",
          R"(flwr_superlink_messages_total{api="fleet",direction="in"} 3)",
          R"(flwr_superlink_runs{status="running"} 4)",
          R"(flwr_superlink_runs{status="finished:completed"} 1)",
          R"(flwr_superlink_round_seconds_count 1)",
          R"(flwr_superlink_round_seconds_sum 2)",
      }) {
    EXPECT_TRUE(absl::StrContains(text, expected)) << expected << "\n" << text;
  }
  // Bytes out of the runtime API: two heartbeat responses of 2 bytes, one error body
  // {"detail":"no"} of 15; a failed gRPC call sends no message.
  EXPECT_TRUE(
      absl::StrContains(text, R"(flwr_superlink_bytes_total{api="runtime",direction="out"} 19)"))
      << text;
  EXPECT_FALSE(absl::StrContains(text, R"(messages_total{api="fleet",direction="out"})")) << text;
  EXPECT_TRUE(absl::StrContains(metrics.Scrape(), R"(flwr_superlink_runs{status="running"} 4)"));
}

TEST(ServerMetricsTest, BadAddresses) {
  ServerMetrics metrics("supernode");
  EXPECT_EQ(metrics.Serve("localhost").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(metrics.Serve("127.0.0.1:99999").code(), absl::StatusCode::kInvalidArgument);
  ServerMetrics first("supernode");
  ASSERT_TRUE(first.Serve("127.0.0.1:0").ok());
  EXPECT_EQ(metrics.Serve("127.0.0.1:" + std::to_string(first.port())).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace flwr::core
