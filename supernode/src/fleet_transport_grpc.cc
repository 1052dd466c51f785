// The gRPC Fleet transport: unary calls of `flwr.proto.Fleet`, as the stock 1.36 grpc-rere
// connection makes them.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>

#include <chrono>
#include <climits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "fleet_transport_internal.h"
#include "flwr/core/runtime_version.h"
#include "flwr/core/wire_errors_grpc.h"

namespace flwr::supernode {
namespace {

constexpr absl::string_view kComponentName = "SuperNode";

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
  // One call with the version and node-auth metadata (raw bytes) attached. The messages go
  // through their MessageLite base, as the generated stubs pass them.
  absl::Status CallRpc(const FleetRpc& rpc, const google::protobuf::Message& request,
                       google::protobuf::Message* response,
                       std::optional<absl::Duration> timeout) override {
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
        channel_.get(), methods_[rpc.index], &context, request, response));
  }

 private:
  const std::shared_ptr<grpc::Channel> channel_;
  const core::NodeKey key_;
  // One per FleetRpcs() entry, at its index (registered with the channel once).
  std::vector<grpc::internal::RpcMethod> methods_;
};

}  // namespace

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
  return std::make_unique<GrpcFleetTransport>(
      grpc::CreateCustomChannel(options.address, credentials, args), std::move(key));
}

}  // namespace flwr::supernode
