// gRPC adapters of the Fleet and Control services: decode, call, encode, map errors (to
// Flower's JSON error details). No logic lives here.
#ifndef FLWR_SUPERLINK_GRPC_SERVICERS_H_
#define FLWR_SUPERLINK_GRPC_SERVICERS_H_

#include "flwr/proto/control.grpc.pb.h"
#include "flwr/proto/fleet.grpc.pb.h"
#include "flwr/superlink/control_service.h"
#include "flwr/superlink/fleet_service.h"

namespace flwr::superlink {

// UNIMPLEMENTED, naming the feature this SuperLink does not offer.
grpc::Status UnsupportedRpc(absl::string_view feature);

#define FLWR_UNSUPPORTED_RPC(Rpc, feature)                                                  \
  grpc::Status Rpc(grpc::ServerContext*, const proto::Rpc##Request*, proto::Rpc##Response*) \
      override {                                                                            \
    return UnsupportedRpc(feature);                                                         \
  }

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

// Control rpcs for features a SuperLink without account or federation management does not
// offer answer UNIMPLEMENTED with a one-line reason the CLI prints.
class ControlGrpcServicer final : public proto::Control::Service {
 public:
  explicit ControlGrpcServicer(ControlService* service) : service_(service) {}

  grpc::Status StartRun(grpc::ServerContext* context, const proto::StartRunRequest* request,
                        proto::StartRunResponse* response) override;
  grpc::Status StopRun(grpc::ServerContext* context, const proto::StopRunRequest* request,
                       proto::StopRunResponse* response) override;
  grpc::Status StreamLogs(grpc::ServerContext* context, const proto::StreamLogsRequest* request,
                          grpc::ServerWriter<proto::StreamLogsResponse>* writer) override;
  grpc::Status ListRuns(grpc::ServerContext* context, const proto::ListRunsRequest* request,
                        proto::ListRunsResponse* response) override;
  grpc::Status RegisterNode(grpc::ServerContext* context, const proto::RegisterNodeRequest* request,
                            proto::RegisterNodeResponse* response) override;
  grpc::Status UnregisterNode(grpc::ServerContext* context,
                              const proto::UnregisterNodeRequest* request,
                              proto::UnregisterNodeResponse* response) override;
  grpc::Status ListNodes(grpc::ServerContext* context, const proto::ListNodesRequest* request,
                         proto::ListNodesResponse* response) override;
  grpc::Status ListFederations(grpc::ServerContext* context,
                               const proto::ListFederationsRequest* request,
                               proto::ListFederationsResponse* response) override;
  grpc::Status GetLoginDetails(grpc::ServerContext* context,
                               const proto::GetLoginDetailsRequest* request,
                               proto::GetLoginDetailsResponse* response) override;

  // Features this SuperLink does not offer: UNIMPLEMENTED with a one-line reason.
  FLWR_UNSUPPORTED_RPC(StartAutomation, "automations")
  FLWR_UNSUPPORTED_RPC(ListAutomations, "automations")
  FLWR_UNSUPPORTED_RPC(StopAutomation, "automations")
  FLWR_UNSUPPORTED_RPC(ListRunSeries, "run series")
  FLWR_UNSUPPORTED_RPC(GetRunSeries, "run series")
  FLWR_UNSUPPORTED_RPC(GetAuthTokens, "account login")
  FLWR_UNSUPPORTED_RPC(ListConnectors, "connectors")
  FLWR_UNSUPPORTED_RPC(DisconnectConnector, "connectors")
  FLWR_UNSUPPORTED_RPC(BeginConnectorOAuth, "connectors")
  FLWR_UNSUPPORTED_RPC(CompleteConnectorOAuth, "connectors")
  FLWR_UNSUPPORTED_RPC(PullArtifacts, "artifacts")
  FLWR_UNSUPPORTED_RPC(ListApps, "app management")
  FLWR_UNSUPPORTED_RPC(AddApp, "app management")
  FLWR_UNSUPPORTED_RPC(RemoveApp, "app management")
  FLWR_UNSUPPORTED_RPC(ShowFederation, "federation management")
  FLWR_UNSUPPORTED_RPC(CreateFederation, "federation management")
  FLWR_UNSUPPORTED_RPC(ArchiveFederation, "federation management")
  FLWR_UNSUPPORTED_RPC(AddNodeToFederation, "federation management")
  FLWR_UNSUPPORTED_RPC(RemoveNodeFromFederation, "federation management")
  FLWR_UNSUPPORTED_RPC(RemoveAccountFromFederation, "federation management")
  FLWR_UNSUPPORTED_RPC(CreateInvitation, "federation management")
  FLWR_UNSUPPORTED_RPC(ListInvitations, "federation management")
  FLWR_UNSUPPORTED_RPC(AcceptInvitation, "federation management")
  FLWR_UNSUPPORTED_RPC(RejectInvitation, "federation management")
  FLWR_UNSUPPORTED_RPC(RevokeInvitation, "federation management")
  FLWR_UNSUPPORTED_RPC(ConfigureSimulationFederation, "simulation federations")
  grpc::Status StreamRunEvents(grpc::ServerContext*, const proto::StreamRunEventsRequest*,
                               grpc::ServerWriter<proto::StreamRunEventsResponse>*) override {
    return UnsupportedRpc("run events");
  }

 private:
  ControlService* service_;
};

#undef FLWR_UNSUPPORTED_RPC

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_GRPC_SERVICERS_H_
