// The HTTP Fleet transport (supernode/fleet_transport.h): the status table of the stock
// http_retry.py, the node-auth headers, and a FleetClient over HTTP against a fake Fleet
// server on loopback (routes, headers, retries and the error categories end to end).
#include "flwr/supernode/fleet_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/http_proto_server.h"
#include "flwr/core/node_auth.h"
#include "flwr/proto/fab.pb.h"
#include "flwr/proto/fleet.pb.h"
#include "flwr/proto/heartbeat.pb.h"
#include "flwr/proto/run.pb.h"
#include "flwr/supernode/fleet_client.h"

namespace flwr::supernode {
namespace {

using core::HttpProtoServer;
using core::HttpRequestContext;

// A plain-text transport of `kind` to `address` with a fresh key.
absl::StatusOr<std::unique_ptr<FleetTransport>> NewTransport(
    std::string address, FleetTransportKind kind = FleetTransportKind::kHttp) {
  absl::StatusOr<core::NodeKey> key = core::NodeKey::Generate();
  if (!key.ok()) return key.status();
  FleetTransportOptions options;
  options.kind = kind;
  options.address = std::move(address);
  return FleetTransport::Create(options, *std::move(key));
}

TEST(FleetRpcsTest, TheTwelveRoutesOfFlower142) {
  std::vector<std::string> paths;
  for (const FleetRpc& rpc : FleetRpcs()) {
    EXPECT_EQ(rpc.grpc_method, absl::StrCat("/flwr.proto.Fleet/", rpc.name));
    paths.push_back(rpc.http_path);
  }
  EXPECT_THAT(
      paths,
      testing::UnorderedElementsAre(
          "/v1/fleet/register-node", "/v1/fleet/activate-node", "/v1/fleet/deactivate-node",
          "/v1/fleet/unregister-node", "/v1/fleet/send-node-heartbeat", "/v1/fleet/pull-messages",
          "/v1/fleet/push-messages", "/v1/fleet/get-run", "/v1/fleet/get-fab",
          "/v1/fleet/push-object", "/v1/fleet/pull-object", "/v1/fleet/confirm-message-received"));
}

TEST(FleetTransportTest, CallChecksTheMessageTypes) {
  absl::StatusOr<std::unique_ptr<FleetTransport>> transport = NewTransport("127.0.0.1:1");
  ASSERT_TRUE(transport.ok());
  proto::GetRunResponse wrong;
  EXPECT_EQ((*transport)->Call(proto::GetFabRequest(), &wrong).code(),
            absl::StatusCode::kInvalidArgument);
  proto::Run not_a_request;
  EXPECT_EQ((*transport)->Call(not_a_request, &wrong).code(), absl::StatusCode::kInvalidArgument);
}

TEST(FleetHttpErrorTest, UnauthorizedIsNodeRejected) {
  const absl::Status status =
      FleetHttpError(401, R"({"detail":"Invalid SuperNode authentication"})");
  EXPECT_TRUE(IsNodeRejected(status)) << status;
  EXPECT_EQ(status.message(), "Invalid SuperNode authentication");
}

TEST(FleetHttpErrorTest, ForbiddenIsRunNotRunning) {
  EXPECT_TRUE(IsRunNotRunning(FleetHttpError(403, R"({"detail":"Run is not running"})")));
  EXPECT_TRUE(IsRunNotRunning(FleetHttpError(403, "not json")));
}

TEST(FleetHttpErrorTest, ForbiddenConnectorNotAvailableIsGivenUpNotRunNotRunning) {
  const absl::Status status =
      FleetHttpError(403, R"({"code":3010,"detail":"Connector is not available to this run."})");
  EXPECT_FALSE(IsRunNotRunning(status));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(core::FlowerErrorCode(status), 3010);
}

TEST(FleetHttpErrorTest, GatewayErrorsAreRetried) {
  for (int http_status : {502, 503, 504}) {
    EXPECT_EQ(FleetHttpError(http_status, R"({"detail":"x"})").code(),
              absl::StatusCode::kUnavailable)
        << http_status;
  }
}

TEST(FleetHttpErrorTest, OtherStatusesAreGivenUp) {
  EXPECT_EQ(FleetHttpError(400, R"({"code":2003,"detail":"Invalid heartbeat interval."})").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FleetHttpError(404, R"({"detail":"Not Found"})").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FleetHttpError(500, R"({"detail":"Internal server error."})").code(),
            absl::StatusCode::kInternal);
  // A Flower error whose catalogue code would read as "retry" (1005: 503) under another
  // status is given up, its Flower code kept.
  const absl::Status status =
      FleetHttpError(500, R"({"code":1005,"detail":"LinkState is not initialized."})");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(core::FlowerErrorCode(status), 1005);
}

TEST(FleetHttpAuthHeadersTest, Base64KeyAndSignatureOverTheTimestamp) {
  absl::StatusOr<core::NodeKey> key = core::NodeKey::Generate();
  ASSERT_TRUE(key.ok());
  const absl::Time now = absl::Now();
  absl::StatusOr<core::SignedRequestMetadata> signed_request = core::SignRequest(*key, now);
  ASSERT_TRUE(signed_request.ok());
  const auto headers = FleetHttpAuthHeaders(*signed_request);
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].first, "flwr-public-key");
  EXPECT_EQ(headers[1].first, "flwr-timestamp");
  EXPECT_EQ(headers[2].first, "flwr-signature");
  std::string pem, signature;
  ASSERT_TRUE(absl::Base64Unescape(headers[0].second, &pem));
  ASSERT_TRUE(absl::Base64Unescape(headers[2].second, &signature));
  EXPECT_EQ(headers[0].second, absl::Base64Escape(pem));  // padded standard alphabet
  EXPECT_EQ(pem, key->PublicKeyPem());
  EXPECT_TRUE(absl::EndsWith(headers[1].second, "+00:00")) << headers[1].second;
  EXPECT_TRUE(core::CheckSignedRequest(pem, headers[1].second, signature, now).ok());
}

// A Fleet server that checks every request's node-auth headers as the 1.42 SuperLink does
// (401 otherwise) and answers: activate-node 503 once, then node 42; pull-messages 403;
// get-run 401; send-node-heartbeat after `heartbeat_delay`.
class FakeFleetServer {
 public:
  FakeFleetServer() {
    server_.AddRequestCheck(
        "/v1/fleet/", [this](const HttpRequestContext& context) { return CheckAuth(context); });
    server_.AddUnary<proto::RegisterNodeFleetRequest, proto::RegisterNodeFleetResponse>(
        "/v1/fleet/register-node",
        [this](proto::RegisterNodeFleetRequest& request, const HttpRequestContext&) {
          absl::MutexLock lock(&mu_);
          registered_key_ = request.public_key();
          return proto::RegisterNodeFleetResponse();
        });
    server_.AddUnary<proto::ActivateNodeRequest, proto::ActivateNodeResponse>(
        "/v1/fleet/activate-node",
        [this](proto::ActivateNodeRequest&,
               const HttpRequestContext&) -> absl::StatusOr<proto::ActivateNodeResponse> {
          if (activate_calls_.fetch_add(1) == 0) return absl::UnavailableError("busy");
          proto::ActivateNodeResponse response;
          response.set_node_id(42);
          return response;
        });
    server_.AddUnary<proto::PullMessagesRequest, proto::PullMessagesResponse>(
        "/v1/fleet/pull-messages",
        [](proto::PullMessagesRequest&,
           const HttpRequestContext&) -> absl::StatusOr<proto::PullMessagesResponse> {
          return absl::PermissionDeniedError("Run is not running");
        });
    server_.AddUnary<proto::GetRunRequest, proto::GetRunResponse>(
        "/v1/fleet/get-run",
        [](proto::GetRunRequest&,
           const HttpRequestContext&) -> absl::StatusOr<proto::GetRunResponse> {
          return absl::UnauthenticatedError("Invalid node ID");
        });
    server_.AddUnary<proto::SendNodeHeartbeatRequest, proto::SendNodeHeartbeatResponse>(
        "/v1/fleet/send-node-heartbeat",
        [this](proto::SendNodeHeartbeatRequest&, const HttpRequestContext&) {
          absl::SleepFor(heartbeat_delay);
          proto::SendNodeHeartbeatResponse response;
          response.set_success(true);
          return response;
        });
    server_.AddUnary<proto::DeactivateNodeRequest, proto::DeactivateNodeResponse>(
        "/v1/fleet/deactivate-node",
        [this](proto::DeactivateNodeRequest& request, const HttpRequestContext&) {
          deactivated_node_ = request.node_id();
          return proto::DeactivateNodeResponse();
        });
    server_.AddUnary<proto::UnregisterNodeFleetRequest, proto::UnregisterNodeFleetResponse>(
        "/v1/fleet/unregister-node",
        [this](proto::UnregisterNodeFleetRequest& request, const HttpRequestContext&) {
          unregistered_node_ = request.node_id();
          return proto::UnregisterNodeFleetResponse();
        });
  }

  absl::Status Start() { return server_.Start("127.0.0.1", 0); }
  std::string address() const { return absl::StrCat("127.0.0.1:", server_.port()); }

  std::string registered_key() {
    absl::MutexLock lock(&mu_);
    return registered_key_;
  }
  std::string component() {
    absl::MutexLock lock(&mu_);
    return component_;
  }

  absl::Duration heartbeat_delay = absl::ZeroDuration();
  std::atomic<int> activate_calls_{0};
  std::atomic<int> auth_failures_{0};
  std::atomic<uint64_t> deactivated_node_{0};
  std::atomic<uint64_t> unregistered_node_{0};

 private:
  absl::Status CheckAuth(const HttpRequestContext& context) {
    std::string pem, signature;
    const auto key = context.Header("flwr-public-key");
    const auto timestamp = context.Header("flwr-timestamp");
    const auto sig = context.Header("flwr-signature");
    absl::Status status = key && timestamp && sig && absl::Base64Unescape(*key, &pem) &&
                                  absl::Base64Unescape(*sig, &signature)
                              ? core::CheckSignedRequest(pem, *timestamp, signature, absl::Now())
                              : absl::UnauthenticatedError("missing headers");
    absl::MutexLock lock(&mu_);
    component_ = std::string(context.Header("flwr-component-name").value_or(""));
    if (!status.ok()) {
      ++auth_failures_;
      return absl::UnauthenticatedError("Invalid SuperNode authentication");
    }
    return absl::OkStatus();
  }

  HttpProtoServer server_;
  absl::Mutex mu_;
  std::string registered_key_ ABSL_GUARDED_BY(mu_);
  std::string component_ ABSL_GUARDED_BY(mu_);
};

TEST(FleetClientOverHttpTest, RoutesHeadersAndErrorCategories) {
  FakeFleetServer server;
  ASSERT_TRUE(server.Start().ok());
  FleetClientOptions options;
  options.address = server.address();
  options.heartbeat = false;
  options.sleep = [](absl::Duration) {};
  absl::StatusOr<std::unique_ptr<FleetClient>> client = FleetClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();

  // Self-registration with the generated key, then activation, retried once after the 503.
  ASSERT_TRUE((*client)->Connect().ok());
  EXPECT_EQ((*client)->node_id(), 42u);
  EXPECT_EQ(server.activate_calls_.load(), 2);
  EXPECT_EQ(server.registered_key(), (*client)->key().PublicKeyPem());
  EXPECT_EQ(server.component(), "SuperNode");

  const absl::Status pulled = (*client)->PullMessage().status();
  EXPECT_TRUE(IsRunNotRunning(pulled)) << pulled;
  const absl::Status run = (*client)->GetRun(7).status();
  EXPECT_TRUE(IsNodeRejected(run)) << run;

  ASSERT_TRUE((*client)->Disconnect().ok());
  EXPECT_EQ(server.deactivated_node_.load(), 42u);
  EXPECT_EQ(server.unregistered_node_.load(), 42u);
  EXPECT_EQ(server.auth_failures_.load(), 0);
}

TEST(FleetTransportTest, HeartbeatTimeoutIsUnavailable) {
  FakeFleetServer server;
  server.heartbeat_delay = absl::Seconds(1);
  ASSERT_TRUE(server.Start().ok());
  absl::StatusOr<std::unique_ptr<FleetTransport>> transport = NewTransport(server.address());
  ASSERT_TRUE(transport.ok()) << transport.status();
  proto::SendNodeHeartbeatResponse response;
  const absl::Status status =
      (*transport)->Call(proto::SendNodeHeartbeatRequest(), &response, absl::Milliseconds(200));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST(FleetTransportTest, HttpAddressMustBeHostPort) {
  EXPECT_EQ(NewTransport("http://127.0.0.1:8000").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NewTransport("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(NewTransport("127.0.0.1:9092", FleetTransportKind::kGrpcRere).ok());
}

}  // namespace
}  // namespace flwr::supernode
