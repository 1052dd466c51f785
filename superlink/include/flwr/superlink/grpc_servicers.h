// gRPC adapters of the Fleet and Control services: decode, call, encode, map errors (to
// Flower's JSON error details). No logic lives here.
#ifndef FLWR_SUPERLINK_GRPC_SERVICERS_H_
#define FLWR_SUPERLINK_GRPC_SERVICERS_H_

#include "flwr/proto/control.grpc.pb.h"
#include "flwr/proto/fleet.grpc.pb.h"
#include "flwr/superlink/control_service.h"
#include "flwr/superlink/fleet_service.h"

namespace flwr::superlink {

class FleetGrpcServicer final : public proto::Fleet::Service {
 public:
  explicit FleetGrpcServicer(FleetService* service) : service_(service) {}

  grpc::Status RegisterNode(grpc::ServerContext* context,
                            const proto::RegisterNodeFleetRequest* request,
                            proto::RegisterNodeFleetResponse* response) override;
  grpc::Status ActivateNode(grpc::ServerContext* context, const proto::ActivateNodeRequest* request,
                            proto::ActivateNodeResponse* response) override;
  grpc::Status DeactivateNode(grpc::ServerContext* context,
                              const proto::DeactivateNodeRequest* request,
                              proto::DeactivateNodeResponse* response) override;
  grpc::Status UnregisterNode(grpc::ServerContext* context,
                              const proto::UnregisterNodeFleetRequest* request,
                              proto::UnregisterNodeFleetResponse* response) override;
  grpc::Status SendNodeHeartbeat(grpc::ServerContext* context,
                                 const proto::SendNodeHeartbeatRequest* request,
                                 proto::SendNodeHeartbeatResponse* response) override;
  grpc::Status PullMessages(grpc::ServerContext* context, const proto::PullMessagesRequest* request,
                            proto::PullMessagesResponse* response) override;
  grpc::Status PushMessages(grpc::ServerContext* context, const proto::PushMessagesRequest* request,
                            proto::PushMessagesResponse* response) override;
  grpc::Status GetRun(grpc::ServerContext* context, const proto::GetRunRequest* request,
                      proto::GetRunResponse* response) override;
  grpc::Status GetFab(grpc::ServerContext* context, const proto::GetFabRequest* request,
                      proto::GetFabResponse* response) override;
  grpc::Status PushObject(grpc::ServerContext* context, const proto::PushObjectRequest* request,
                          proto::PushObjectResponse* response) override;
  grpc::Status PullObject(grpc::ServerContext* context, const proto::PullObjectRequest* request,
                          proto::PullObjectResponse* response) override;
  grpc::Status ConfirmMessageReceived(grpc::ServerContext* context,
                                      const proto::ConfirmMessageReceivedRequest* request,
                                      proto::ConfirmMessageReceivedResponse* response) override;

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
