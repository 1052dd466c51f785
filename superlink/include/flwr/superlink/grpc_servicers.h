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

#define FLWR_CONTROL_RPC(Rpc)                                                        \
  grpc::Status Rpc(grpc::ServerContext* context, const proto::Rpc##Request* request, \
                   proto::Rpc##Response* response) override;

// Every Control rpc of the proto, through ControlService.
class ControlGrpcServicer final : public proto::Control::Service {
 public:
  explicit ControlGrpcServicer(ControlService* service) : service_(service) {}

  FLWR_CONTROL_RPC(StartRun)
  FLWR_CONTROL_RPC(StopRun)
  FLWR_CONTROL_RPC(StartAutomation)
  FLWR_CONTROL_RPC(ListAutomations)
  FLWR_CONTROL_RPC(StopAutomation)
  FLWR_CONTROL_RPC(ListRuns)
  FLWR_CONTROL_RPC(ListRunSeries)
  FLWR_CONTROL_RPC(GetRunSeries)
  FLWR_CONTROL_RPC(UpdateRunSeriesDescription)
  FLWR_CONTROL_RPC(ListRunSeriesEvents)
  FLWR_CONTROL_RPC(GetLoginDetails)
  FLWR_CONTROL_RPC(GetAuthTokens)
  FLWR_CONTROL_RPC(ListConnectors)
  FLWR_CONTROL_RPC(DisconnectConnector)
  FLWR_CONTROL_RPC(BeginConnectorOAuth)
  FLWR_CONTROL_RPC(CompleteConnectorOAuth)
  FLWR_CONTROL_RPC(PullArtifacts)
  FLWR_CONTROL_RPC(RegisterNode)
  FLWR_CONTROL_RPC(UnregisterNode)
  FLWR_CONTROL_RPC(ListNodes)
  FLWR_CONTROL_RPC(ListFederations)
  FLWR_CONTROL_RPC(ListApps)
  FLWR_CONTROL_RPC(ListAppAssociations)
  FLWR_CONTROL_RPC(AddApp)
  FLWR_CONTROL_RPC(RemoveApp)
  FLWR_CONTROL_RPC(ShowFederation)
  FLWR_CONTROL_RPC(SetFederationIcon)
  FLWR_CONTROL_RPC(CreateFederation)
  FLWR_CONTROL_RPC(ArchiveFederation)
  FLWR_CONTROL_RPC(AddNodeToFederation)
  FLWR_CONTROL_RPC(RemoveNodeFromFederation)
  FLWR_CONTROL_RPC(RemoveAccountFromFederation)
  FLWR_CONTROL_RPC(CreateInvitation)
  FLWR_CONTROL_RPC(ListInvitations)
  FLWR_CONTROL_RPC(AcceptInvitation)
  FLWR_CONTROL_RPC(RejectInvitation)
  FLWR_CONTROL_RPC(RevokeInvitation)
  FLWR_CONTROL_RPC(ConfigureSimulationFederation)
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
