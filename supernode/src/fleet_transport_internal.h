// The FleetTransport implementations, created by FleetTransport::Create.
#ifndef FLWR_SUPERNODE_SRC_FLEET_TRANSPORT_INTERNAL_H_
#define FLWR_SUPERNODE_SRC_FLEET_TRANSPORT_INTERNAL_H_

#include <memory>

#include "absl/status/statusor.h"
#include "flwr/core/node_auth.h"
#include "flwr/supernode/fleet_transport.h"

namespace flwr::supernode {

// gRPC `flwr.proto.Fleet` on a channel to `options.address`; `flwr.proto.GrpcAdapter` if
// `options.kind` is FleetTransportKind::kGrpcAdapter.
std::unique_ptr<FleetTransport> NewGrpcFleetTransport(const FleetTransportOptions& options,
                                                      core::NodeKey key);

// `/v1/fleet/*` over HTTP(S). InvalidArgument if the address is not "host:port".
absl::StatusOr<std::unique_ptr<FleetTransport>> NewHttpFleetTransport(
    const FleetTransportOptions& options, core::NodeKey key);

// HTTP, or gRPC when the SuperLink serves only that (FleetTransportKind::kDetect).
// InvalidArgument if the address is not "host:port".
absl::StatusOr<std::unique_ptr<FleetTransport>> NewDetectingFleetTransport(
    const FleetTransportOptions& options, core::NodeKey key);

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_SRC_FLEET_TRANSPORT_INTERNAL_H_
