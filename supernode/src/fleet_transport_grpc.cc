// The gRPC Fleet transports: unary calls of `flwr.proto.Fleet`, as the stock 1.36 grpc-rere
// connection makes them, or the same requests through `flwr.proto.GrpcAdapter`, as its
// GrpcAdapter makes them.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/time/clock.h"
#include "fleet_transport_internal.h"
#include "flwr/core/grpc_adapter.h"
#include "flwr/core/logging.h"
#include "flwr/core/runtime_version.h"
#include "flwr/core/wire_errors_grpc.h"

namespace flwr::supernode {
namespace {

constexpr absl::string_view kComponentName = "SuperNode";
constexpr absl::string_view kSendReceiveMethod = "/flwr.proto.GrpcAdapter/SendReceive";
// The payload that marks IsExitRequested's status.
constexpr absl::string_view kShouldExitPayload = "flwr.supernode/should-exit";

class GrpcFleetTransport : public FleetTransport {
 public:
  GrpcFleetTransport(std::shared_ptr<grpc::Channel> channel, core::NodeKey key)
      : channel_(std::move(channel)), key_(std::move(key)) {
    for (const FleetRpc& rpc : FleetRpcs()) {
      methods_.emplace_back(rpc.grpc_method.c_str(), grpc::internal::RpcMethod::NORMAL_RPC,
                            channel_);
    }
  }

 protected:
  absl::Status CallRpc(const FleetRpc& rpc, const google::protobuf::Message& request,
                       google::protobuf::Message* response,
                       std::optional<absl::Duration> timeout) override {
    return Invoke(methods_[rpc.index], request, response, timeout);
  }

  // One call with the version and node-auth metadata (raw bytes) attached. The messages go
  // through their MessageLite base, as the generated stubs pass them.
  absl::Status Invoke(const grpc::internal::RpcMethod& method,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* response,
                      std::optional<absl::Duration> timeout) {
    grpc::ClientContext context;
    for (const auto& [name, value] : core::RuntimeVersionHeaders(kComponentName)) {
      context.AddMetadata(name, value);
    }
    absl::StatusOr<core::SignedRequestMetadata> auth = core::SignRequest(key_, absl::Now());
    if (!auth.ok()) return auth.status();
    context.AddMetadata(std::string(core::kPublicKeyHeader), auth->public_key_pem);
    context.AddMetadata(std::string(core::kTimestampHeader), auth->timestamp);
    context.AddMetadata(std::string(core::kSignatureHeader), auth->signature);
    if (timeout.has_value()) {
      context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(*timeout));
    }
    return core::FromGrpcStatus(grpc::internal::BlockingUnaryCall<google::protobuf::MessageLite,
                                                                  google::protobuf::MessageLite>(
        channel_.get(), method, &context, request, response));
  }

  const std::shared_ptr<grpc::Channel> channel_;

 private:
  const core::NodeKey key_;
  // One per FleetRpcs() entry, at its index (registered with the channel once).
  std::vector<grpc::internal::RpcMethod> methods_;
};

class GrpcAdapterFleetTransport : public GrpcFleetTransport {
 public:
  GrpcAdapterFleetTransport(std::shared_ptr<grpc::Channel> channel, core::NodeKey key,
                            std::function<void()> on_should_exit)
      : GrpcFleetTransport(std::move(channel), std::move(key)),
        send_receive_(kSendReceiveMethod.data(), grpc::internal::RpcMethod::NORMAL_RPC, channel_),
        on_should_exit_(std::move(on_should_exit)) {}

 protected:
  // Every rpc is SendReceive; the envelope names the request's type.
  absl::Status CallRpc(const FleetRpc& /*rpc*/, const google::protobuf::Message& request,
                       google::protobuf::Message* response,
                       std::optional<absl::Duration> timeout) override {
    proto::MessageContainer answer;
    absl::Status status =
        Invoke(send_receive_, core::ToMessageContainer(request, core::PinnedFlowerVersion()),
               &answer, timeout);
    if (!status.ok()) return status;
    auto should_exit = answer.metadata().find(std::string(core::kGrpcAdapterShouldExitKey));
    if (should_exit != answer.metadata().end() && should_exit->second == "true") {
      core::LogDebug("Received shutdown signal: exit flag is set to ``\"true\"``. Exiting...");
      if (on_should_exit_) {
        on_should_exit_();
      } else {
        kill(getpid(), SIGTERM);
      }
      absl::Status exit = absl::CancelledError("The SuperLink asked this SuperNode to exit.");
      exit.SetPayload(kShouldExitPayload, absl::Cord("true"));
      return exit;
    }
    return core::FromMessageContainer(answer, response);
  }

 private:
  const grpc::internal::RpcMethod send_receive_;
  const std::function<void()> on_should_exit_;
};

}  // namespace

bool IsExitRequested(const absl::Status& status) {
  return status.GetPayload(kShouldExitPayload).has_value();
}

std::unique_ptr<FleetTransport> NewGrpcFleetTransport(const FleetTransportOptions& options,
                                                      core::NodeKey key) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(INT_MAX);
  args.SetMaxReceiveMessageSize(INT_MAX);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.root_certificates;
    credentials = grpc::SslCredentials(ssl);
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.address, credentials, args);
  if (options.kind == FleetTransportKind::kGrpcAdapter) {
    return std::make_unique<GrpcAdapterFleetTransport>(std::move(channel), std::move(key),
                                                       options.on_should_exit);
  }
  return std::make_unique<GrpcFleetTransport>(std::move(channel), std::move(key));
}

}  // namespace flwr::supernode
