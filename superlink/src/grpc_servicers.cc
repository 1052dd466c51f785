#include "flwr/superlink/grpc_servicers.h"

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/grpc_adapter.h"
#include "flwr/core/logging.h"
#include "flwr/core/node_auth.h"
#include "flwr/core/runtime_version.h"
#include "flwr/core/wire_errors_grpc.h"

namespace flwr::superlink {
namespace {

// Returns the single value of a metadata key, or "" if it is absent.
std::string Metadata(const grpc::ServerContext& context, absl::string_view key) {
  auto range = context.client_metadata().equal_range(grpc::string_ref(key.data(), key.size()));
  if (range.first == range.second) return "";
  return std::string(range.first->second.data(), range.first->second.size());
}

// Every metadata entry, e.g. for the runtime version keys.
std::vector<std::pair<std::string, std::string>> AllMetadata(const grpc::ServerContext& context) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& [key, value] : context.client_metadata()) {
    entries.emplace_back(std::string(key.data(), key.size()),
                         std::string(value.data(), value.size()));
  }
  return entries;
}

// The caller's Flower line; gRPC Control callers without version headers are of the oldest.
absl::string_view CallerLine(const grpc::ServerContext& context) {
  return core::PeerFlowerLine(AllMetadata(context)).value_or(core::OldestSupportedFlowerVersion());
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

#define FLWR_FLEET_RPC(Rpc, Request, Response, node_id)                                            \
  grpc::Status FleetGrpcServicer::Rpc(grpc::ServerContext* context, const proto::Request* request, \
                                      proto::Response* response) {                                 \
    return Fleet(*context, service_, "/flwr.proto.Fleet/" #Rpc, node_id, response,                 \
                 [&] { return service_->Rpc(*request); });                                         \
  }
FLWR_FLEET_RPCS(FLWR_FLEET_RPC)
#undef FLWR_FLEET_RPC

namespace {

// grpcio's answer for an exception of the stock GrpcAdapterServicer.
grpc::Status AdapterFailure(const absl::Status& status) {
  core::LogError(absl::StrCat("[/flwr.proto.GrpcAdapter/SendReceive] ", status.message()));
  return grpc::Status(grpc::StatusCode::UNKNOWN,
                      absl::StrCat("Exception calling application: ", status.message()));
}

// One Fleet rpc through the adapter: the envelope's request, served by `rpc`, the response
// wrapped for a peer of `line`.
template <typename Request, typename Response>
grpc::Status AdaptFleetRpc(FleetService* service,
                           absl::StatusOr<Response> (FleetService::*rpc)(const Request&),
                           const proto::MessageContainer& in, absl::string_view line,
                           proto::MessageContainer* out) {
  Request request;
  if (absl::Status s = core::FromMessageContainer(in, &request); !s.ok()) {
    return AdapterFailure(s);
  }
  absl::StatusOr<Response> response = (service->*rpc)(request);
  if (!response.ok()) return AdapterFailure(response.status());
  *out = core::ToMessageContainer(*response, line);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status GrpcAdapterServicer::SendReceive(grpc::ServerContext* context,
                                              const proto::MessageContainer* request,
                                              proto::MessageContainer* response) {
  const std::string& name = request->grpc_message_name();
  const absl::string_view line = CallerLine(*context);
#define FLWR_ADAPTER_RPC(Rpc, Request, Response, node_id)                         \
  if (name == proto::Request::descriptor()->name()) {                             \
    return AdaptFleetRpc(service_, &FleetService::Rpc, *request, line, response); \
  }
  FLWR_FLEET_RPCS(FLWR_ADAPTER_RPC)
#undef FLWR_ADAPTER_RPC
  return AdapterFailure(
      absl::InvalidArgumentError(absl::StrCat("Invalid grpc_message_name: ", name)));
}

#define FLWR_CONTROL_RPC_WITH(Rpc, ...)                                                        \
  grpc::Status ControlGrpcServicer::Rpc(grpc::ServerContext* context,                          \
                                        const proto::Rpc##Request* request,                    \
                                        proto::Rpc##Response* response) {                      \
    (void)context;                                                                             \
    return Finish("/flwr.proto.Control/" #Rpc, service_->Rpc(*request __VA_ARGS__), response); \
  }
#define FLWR_CONTROL_RPC(Rpc) FLWR_CONTROL_RPC_WITH(Rpc)
#define FLWR_CONTROL_LINE_RPC(Rpc) FLWR_CONTROL_RPC_WITH(Rpc, , CallerLine(*context))
// What the stock 1.36 SuperLink answers for an rpc it does not have (its interceptor raises).
#define FLWR_CONTROL_NEW_RPC(Rpc)                                                         \
  grpc::Status ControlGrpcServicer::Rpc(grpc::ServerContext*, const proto::Rpc##Request*, \
                                        proto::Rpc##Response*) {                          \
    return grpc::Status(grpc::StatusCode::UNKNOWN,                                        \
                        std::string(core::kServiceHandlerErrorMessage));                  \
  }
FLWR_CONTROL_UNARY_RPCS(FLWR_CONTROL_RPC, FLWR_CONTROL_LINE_RPC, FLWR_CONTROL_NEW_RPC)
#undef FLWR_CONTROL_NEW_RPC
#undef FLWR_CONTROL_LINE_RPC
#undef FLWR_CONTROL_RPC_WITH
#undef FLWR_CONTROL_RPC

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

grpc::Status ControlGrpcServicer::StreamRunEvents(
    grpc::ServerContext* context, const proto::StreamRunEventsRequest* request,
    grpc::ServerWriter<proto::StreamRunEventsResponse>* writer) {
  absl::Status status = service_->StreamRunEvents(
      *request, [&](const proto::StreamRunEventsResponse& r) { return writer->Write(r); },
      [&] { return context->IsCancelled(); });
  if (!status.ok()) {
    core::LogError(absl::StrCat("[/flwr.proto.Control/StreamRunEvents] ", status.message()));
    return core::ToGrpcStatus(status);
  }
  return grpc::Status::OK;
}

}  // namespace flwr::superlink
