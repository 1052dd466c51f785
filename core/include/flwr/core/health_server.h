// The `--health-server-address` of flwr's servers: a plain-text gRPC server with only the
// standard `grpc.health.v1.Health` service, reporting SERVING while the process runs (what a
// Kubernetes gRPC probe or `grpc_health_probe` asks).
#ifndef FLWR_CORE_HEALTH_SERVER_H_
#define FLWR_CORE_HEALTH_SERVER_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace flwr::core {

// Starts the health server on `address` ("host:port") and logs flwr's INFO line
// "Starting gRPC health server on <address>". Unavailable if it cannot bind.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(absl::string_view address);

// The `--health-server-address` flag: no server (nullptr) for an empty address, else
// StartHealthServer; on failure logs the error and returns nullopt (the caller exits 1).
std::optional<std::unique_ptr<grpc::Server>> StartHealthServerFlag(absl::string_view address);

}  // namespace flwr::core

#endif  // FLWR_CORE_HEALTH_SERVER_H_
