// gRPC adapters of the Fleet and Control services: decode, call, encode, map errors (to
// Flower's JSON error details). No logic lives here. The Fleet service has two: grpc-rere
// (`flwr.proto.Fleet`) and GrpcAdapter.
#ifndef FLWR_SUPERLINK_GRPC_SERVICERS_H_
#define FLWR_SUPERLINK_GRPC_SERVICERS_H_

#include "flwr/proto/control.grpc.pb.h"
#include "flwr/proto/fleet.grpc.pb.h"
#include "flwr/proto/grpcadapter.grpc.pb.h"
#include "flwr/superlink/control_service.h"
#include "flwr/superlink/fleet_service.h"

namespace flwr::superlink {

// The 12 Fleet rpcs, each served by FleetService's method of the same name: X(Rpc, Request,
// Response, node_id), `node_id` being the node a call names (an expression of `request`), whose
// key flwr's NodeAuthServerInterceptor checks (std::nullopt: none).
#define FLWR_FLEET_RPCS(X)                                                                       \
  X(RegisterNode, RegisterNodeFleetRequest, RegisterNodeFleetResponse, std::nullopt)             \
  X(ActivateNode, ActivateNodeRequest, ActivateNodeResponse, std::nullopt)                       \
  X(DeactivateNode, DeactivateNodeRequest, DeactivateNodeResponse, request->node_id())           \
  X(UnregisterNode, UnregisterNodeFleetRequest, UnregisterNodeFleetResponse, request->node_id()) \
  X(SendNodeHeartbeat, SendNodeHeartbeatRequest, SendNodeHeartbeatResponse,                      \
    request->node().node_id())                                                                   \
  X(PullMessages, PullMessagesRequest, PullMessagesResponse, request->node().node_id())          \
  X(PushMessages, PushMessagesRequest, PushMessagesResponse, request->node().node_id())          \
  X(GetRun, GetRunRequest, GetRunResponse, request->node().node_id())                            \
  X(GetFab, GetFabRequest, GetFabResponse, request->node().node_id())                            \
  X(PushObject, PushObjectRequest, PushObjectResponse, request->node().node_id())                \
  X(PullObject, PullObjectRequest, PullObjectResponse, request->node().node_id())                \
  X(ConfirmMessageReceived, ConfirmMessageReceivedRequest, ConfirmMessageReceivedResponse,       \
    request->node().node_id())

#define FLWR_FLEET_RPC(Rpc, Request, Response, node_id)                         \
  grpc::Status Rpc(grpc::ServerContext* context, const proto::Request* request, \
                   proto::Response* response) override;

// `flwr.proto.Fleet` (grpc-rere): each call authenticated as flwr's NodeAuthServerInterceptor
// does (FleetService::Authenticate), then served by FleetService.
class FleetGrpcServicer final : public proto::Fleet::Service {
 public:
  explicit FleetGrpcServicer(FleetService* service) : service_(service) {}

  FLWR_FLEET_RPCS(FLWR_FLEET_RPC)

 private:
  FleetService* service_;
};

#undef FLWR_FLEET_RPC

// `flwr.proto.GrpcAdapter` (`--fleet-api-type grpc-adapter`), as flwr's GrpcAdapterServicer:
// SendReceive takes a Fleet request in a MessageContainer (flwr/core/grpc_adapter.h), named by
// its type's name (e.g. "RegisterNodeFleetRequest"), serves it through FleetService without
// node authentication (stock serves this transport without its node-auth interceptor, and its
// SuperNode has no key to sign with) and answers the response in a MessageContainer announcing
// the caller's Flower line. Every failure, an unknown name, content that does not parse or a
// Fleet error, is UNKNOWN "Exception calling application: <message>": what grpcio answers for
// the exception the stock servicer raises (it has no error translation either).
class GrpcAdapterServicer final : public proto::GrpcAdapter::Service {
 public:
  explicit GrpcAdapterServicer(FleetService* service) : service_(service) {}

  grpc::Status SendReceive(grpc::ServerContext* context, const proto::MessageContainer* request,
                           proto::MessageContainer* response) override;

 private:
  FleetService* service_;
};

// The unary Control rpcs, each served by ControlService's method of the same name: RPC(Rpc)
// with the request, LINE_RPC(Rpc) also with the caller's Flower line (the answer depends on it).
// NEW_RPC(Rpc): an rpc Flower 1.42 added, which 1.42 peers call over HTTP; over gRPC (1.36
// peers only) it answers as the stock 1.36 SuperLink, which does not have it.
#define FLWR_CONTROL_UNARY_RPCS(RPC, LINE_RPC, NEW_RPC) \
  RPC(StartRun)                                         \
  RPC(StopRun)                                          \
  RPC(StartAutomation)                                  \
  RPC(ListAutomations)                                  \
  RPC(StopAutomation)                                   \
  LINE_RPC(ListRuns)                                    \
  RPC(ListRunSeries)                                    \
  LINE_RPC(GetRunSeries)                                \
  NEW_RPC(UpdateRunSeriesDescription)                   \
  NEW_RPC(ListRunSeriesEvents)                          \
  RPC(GetLoginDetails)                                  \
  RPC(GetAuthTokens)                                    \
  RPC(ListConnectors)                                   \
  RPC(DisconnectConnector)                              \
  RPC(BeginConnectorOAuth)                              \
  RPC(CompleteConnectorOAuth)                           \
  RPC(PullArtifacts)                                    \
  LINE_RPC(RegisterNode)                                \
  RPC(UnregisterNode)                                   \
  RPC(ListNodes)                                        \
  RPC(ListFederations)                                  \
  LINE_RPC(ListApps)                                    \
  NEW_RPC(ListAppAssociations)                          \
  RPC(AddApp)                                           \
  RPC(RemoveApp)                                        \
  RPC(ShowFederation)                                   \
  NEW_RPC(SetFederationIcon)                            \
  RPC(CreateFederation)                                 \
  RPC(ArchiveFederation)                                \
  RPC(AddNodeToFederation)                              \
  RPC(RemoveNodeFromFederation)                         \
  RPC(RemoveAccountFromFederation)                      \
  RPC(CreateInvitation)                                 \
  RPC(ListInvitations)                                  \
  RPC(AcceptInvitation)                                 \
  RPC(RejectInvitation)                                 \
  RPC(RevokeInvitation)                                 \
  RPC(ConfigureSimulationFederation)

#define FLWR_CONTROL_RPC(Rpc)                                                        \
  grpc::Status Rpc(grpc::ServerContext* context, const proto::Rpc##Request* request, \
                   proto::Rpc##Response* response) override;

// Every Control rpc of the proto, through ControlService.
class ControlGrpcServicer final : public proto::Control::Service {
 public:
  explicit ControlGrpcServicer(ControlService* service) : service_(service) {}

  FLWR_CONTROL_UNARY_RPCS(FLWR_CONTROL_RPC, FLWR_CONTROL_RPC, FLWR_CONTROL_RPC)
  grpc::Status StreamLogs(grpc::ServerContext* context, const proto::StreamLogsRequest* request,
                          grpc::ServerWriter<proto::StreamLogsResponse>* writer) override;
  grpc::Status StreamRunEvents(grpc::ServerContext* context,
                               const proto::StreamRunEventsRequest* request,
                               grpc::ServerWriter<proto::StreamRunEventsResponse>* writer) override;

 private:
  ControlService* service_;
};

#undef FLWR_CONTROL_RPC

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_GRPC_SERVICERS_H_
