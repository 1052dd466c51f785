#include "flwr/superlink/grpc_servicers.h"

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/logging.h"
#include "flwr/core/node_auth.h"
#include "flwr/core/wire_errors.h"

namespace flwr::superlink {
namespace {

// Returns the single value of a metadata key, or "" if it is absent.
std::string Metadata(const grpc::ServerContext& context, absl::string_view key) {
  auto range = context.client_metadata().equal_range(grpc::string_ref(key.data(), key.size()));
  if (range.first == range.second) return "";
  return std::string(range.first->second.data(), range.first->second.size());
}

NodeCredentials Credentials(const grpc::ServerContext& context) {
  return NodeCredentials{Metadata(context, core::kPublicKeyHeader),
                         Metadata(context, core::kTimestampHeader),
                         Metadata(context, core::kSignatureHeader)};
}

template <typename Response>
grpc::Status Finish(absl::string_view rpc, absl::StatusOr<Response> result, Response* response) {
  if (!result.ok()) {
    const std::optional<int> code = core::FlowerErrorCode(result.status());
    core::LogError(absl::StrCat("[", rpc, "]", code ? absl::StrCat("[ApiError:", *code, "]") : "",
                                " ", result.status().message()));
    return core::ToGrpcStatus(result.status());
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

// Authenticates a Fleet call, then runs it.
template <typename Response, typename Call>
grpc::Status Fleet(const grpc::ServerContext& context, FleetService* service, absl::string_view rpc,
                   std::optional<uint64_t> node_id, Response* response, Call call) {
  if (absl::Status s = service->Authenticate(Credentials(context), node_id); !s.ok()) {
    // Plain-text details, as flwr's interceptor aborts (absl and gRPC share code numbers).
    return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
  }
  return Finish(rpc, call(), response);
}

}  // namespace

grpc::Status UnsupportedRpc(absl::string_view feature) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      absl::StrCat("This SuperLink does not support ", feature, "."));
}

grpc::Status FleetGrpcServicer::RegisterNode(grpc::ServerContext* context,
                                             const proto::RegisterNodeFleetRequest* request,
                                             proto::RegisterNodeFleetResponse* response) {
  return Fleet(*context, service_, "/flwr.proto.Fleet/RegisterNode", std::nullopt, response, [&] {
    auto result = service_->RegisterNode(*request);
    if (result.ok()) {
      core::LogDebug(absl::StrCat("[Fleet.RegisterNode] Registered node_id=", result->node_id()));
    }
    return result;
  });
}

grpc::Status FleetGrpcServicer::ActivateNode(grpc::ServerContext* context,
                                             const proto::ActivateNodeRequest* request,
                                             proto::ActivateNodeResponse* response) {
  return Fleet(*context, service_, "/flwr.proto.Fleet/ActivateNode", std::nullopt, response, [&] {
    auto result = service_->ActivateNode(*request);
    if (result.ok()) {
      core::LogInfo(absl::StrCat("[Fleet.ActivateNode] Activated node_id=", result->node_id()));
    }
    return result;
  });
}

grpc::Status FleetGrpcServicer::DeactivateNode(grpc::ServerContext* context,
                                               const proto::DeactivateNodeRequest* request,
                                               proto::DeactivateNodeResponse* response) {
  return Fleet(
      *context, service_, "/flwr.proto.Fleet/DeactivateNode", request->node_id(), response, [&] {
        auto result = service_->DeactivateNode(*request);
        if (result.ok()) {
          core::LogInfo(
              absl::StrCat("[Fleet.DeactivateNode] Deactivated node_id=", request->node_id()));
        }
        return result;
      });
}

grpc::Status FleetGrpcServicer::UnregisterNode(grpc::ServerContext* context,
                                               const proto::UnregisterNodeFleetRequest* request,
                                               proto::UnregisterNodeFleetResponse* response) {
  return Fleet(
      *context, service_, "/flwr.proto.Fleet/UnregisterNode", request->node_id(), response, [&] {
        auto result = service_->UnregisterNode(*request);
        if (result.ok()) {
          core::LogDebug(
              absl::StrCat("[Fleet.UnregisterNode] Unregistered node_id=", request->node_id()));
        }
        return result;
      });
}

grpc::Status FleetGrpcServicer::SendNodeHeartbeat(grpc::ServerContext* context,
                                                  const proto::SendNodeHeartbeatRequest* request,
                                                  proto::SendNodeHeartbeatResponse* response) {
  return Fleet(*context, service_, "/flwr.proto.Fleet/SendNodeHeartbeat", request->node().node_id(),
               response, [&] { return service_->SendNodeHeartbeat(*request); });
}

grpc::Status FleetGrpcServicer::PullMessages(grpc::ServerContext* context,
                                             const proto::PullMessagesRequest* request,
                                             proto::PullMessagesResponse* response) {
  return Fleet(
      *context, service_, "/flwr.proto.Fleet/PullMessages", request->node().node_id(), response,
      [&] {
        core::LogInfo(absl::StrCat("[Fleet.PullMessages] node_id=", request->node().node_id()));
        return service_->PullMessages(*request);
      });
}

grpc::Status FleetGrpcServicer::PushMessages(grpc::ServerContext* context,
                                             const proto::PushMessagesRequest* request,
                                             proto::PushMessagesResponse* response) {
  return Fleet(*context, service_, "/flwr.proto.Fleet/PushMessages", request->node().node_id(),
               response, [&] {
                 core::LogInfo(request->messages_list_size() > 0
                                   ? absl::StrCat("[Fleet.PushMessages] Push replies from node_id=",
                                                  request->node().node_id())
                                   : std::string("[Fleet.PushMessages] No replies to push"));
                 return service_->PushMessages(*request);
               });
}

grpc::Status FleetGrpcServicer::GetRun(grpc::ServerContext* context,
                                       const proto::GetRunRequest* request,
                                       proto::GetRunResponse* response) {
  return Fleet(
      *context, service_, "/flwr.proto.Fleet/GetRun", request->node().node_id(), response, [&] {
        core::LogInfo(
            absl::StrCat("[Fleet.GetRun] Requesting `Run` for run_id=", request->run_id()));
        return service_->GetRun(*request);
      });
}

grpc::Status FleetGrpcServicer::GetFab(grpc::ServerContext* context,
                                       const proto::GetFabRequest* request,
                                       proto::GetFabResponse* response) {
  return Fleet(
      *context, service_, "/flwr.proto.Fleet/GetFab", request->node().node_id(), response, [&] {
        core::LogInfo(
            absl::StrCat("[Fleet.GetFab] Requesting FAB for fab_hash=", request->hash_str()));
        return service_->GetFab(*request);
      });
}

grpc::Status FleetGrpcServicer::PushObject(grpc::ServerContext* context,
                                           const proto::PushObjectRequest* request,
                                           proto::PushObjectResponse* response) {
  return Fleet(
      *context, service_, "/flwr.proto.Fleet/PushObject", request->node().node_id(), response, [&] {
        core::LogDebug(
            absl::StrCat("[Fleet.PushObject] Push Object with object_id=", request->object_id()));
        return service_->PushObject(*request);
      });
}

grpc::Status FleetGrpcServicer::PullObject(grpc::ServerContext* context,
                                           const proto::PullObjectRequest* request,
                                           proto::PullObjectResponse* response) {
  return Fleet(
      *context, service_, "/flwr.proto.Fleet/PullObject", request->node().node_id(), response, [&] {
        core::LogDebug(
            absl::StrCat("[Fleet.PullObject] Pull Object with object_id=", request->object_id()));
        return service_->PullObject(*request);
      });
}

grpc::Status FleetGrpcServicer::ConfirmMessageReceived(
    grpc::ServerContext* context, const proto::ConfirmMessageReceivedRequest* request,
    proto::ConfirmMessageReceivedResponse* response) {
  return Fleet(*context, service_, "/flwr.proto.Fleet/ConfirmMessageReceived",
               request->node().node_id(), response, [&] {
                 core::LogDebug(absl::StrCat("[Fleet.ConfirmMessageReceived] Message with ID '",
                                             request->message_object_id(), "' has been received"));
                 return service_->ConfirmMessageReceived(*request);
               });
}

grpc::Status ControlGrpcServicer::StartRun(grpc::ServerContext*,
                                           const proto::StartRunRequest* request,
                                           proto::StartRunResponse* response) {
  return Finish("/flwr.proto.Control/StartRun", service_->StartRun(*request), response);
}

grpc::Status ControlGrpcServicer::StopRun(grpc::ServerContext*,
                                          const proto::StopRunRequest* request,
                                          proto::StopRunResponse* response) {
  return Finish("/flwr.proto.Control/StopRun", service_->StopRun(*request), response);
}

grpc::Status ControlGrpcServicer::StreamLogs(
    grpc::ServerContext* context, const proto::StreamLogsRequest* request,
    grpc::ServerWriter<proto::StreamLogsResponse>* writer) {
  absl::Status status = service_->StreamLogs(
      *request, [&](const proto::StreamLogsResponse& r) { return writer->Write(r); },
      [&] { return context->IsCancelled(); });
  if (!status.ok()) {
    core::LogError(absl::StrCat("[/flwr.proto.Control/StreamLogs] ", status.message()));
    return core::ToGrpcStatus(status);
  }
  return grpc::Status::OK;
}

grpc::Status ControlGrpcServicer::ListRuns(grpc::ServerContext*,
                                           const proto::ListRunsRequest* request,
                                           proto::ListRunsResponse* response) {
  return Finish("/flwr.proto.Control/ListRuns", service_->ListRuns(*request), response);
}

grpc::Status ControlGrpcServicer::ListNodes(grpc::ServerContext*,
                                            const proto::ListNodesRequest* request,
                                            proto::ListNodesResponse* response) {
  return Finish("/flwr.proto.Control/ListNodes", service_->ListNodes(*request), response);
}

grpc::Status ControlGrpcServicer::ListFederations(grpc::ServerContext*,
                                                  const proto::ListFederationsRequest* request,
                                                  proto::ListFederationsResponse* response) {
  return Finish("/flwr.proto.Control/ListFederations", service_->ListFederations(*request),
                response);
}

grpc::Status ControlGrpcServicer::GetLoginDetails(grpc::ServerContext*,
                                                  const proto::GetLoginDetailsRequest*,
                                                  proto::GetLoginDetailsResponse*) {
  return core::ToGrpcStatus(core::FlowerError(core::api_error::kNoAccountAuth,
                                              "ControlServicer initialized without account "
                                              "authentication."));
}

}  // namespace flwr::superlink
