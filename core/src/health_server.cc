#include "flwr/core/health_server.h"

#include "absl/strings/str_cat.h"
#include "flwr/core/logging.h"
#include "flwr/proto/fleet.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"

namespace flwr::core {

absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(absl::string_view address) {
  grpc::EnableDefaultHealthCheckService(true);
  // gRPC 1.51's builder refuses a server without a synchronous service ("At least one of the
  // completion queues must be frequently polled"); the health service alone is callback-based.
  // A service whose rpcs all answer UNIMPLEMENTED satisfies it.
  static auto* placeholder = new proto::Fleet::Service();
  grpc::ServerBuilder builder;
  builder.RegisterService(placeholder);
  int bound = 0;
  builder.AddListeningPort(std::string(address), grpc::InsecureServerCredentials(), &bound);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound == 0) {
    return absl::UnavailableError(absl::StrCat("Cannot start the gRPC health server on ", address));
  }
  LogInfo(absl::StrCat("Starting gRPC health server on ", address));
  return server;
}

std::optional<std::unique_ptr<grpc::Server>> StartHealthServerFlag(absl::string_view address) {
  if (address.empty()) return std::unique_ptr<grpc::Server>();
  absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartHealthServer(address);
  if (!server.ok()) {
    LogError(server.status().message());
    return std::nullopt;
  }
  return *std::move(server);
}

}  // namespace flwr::core
