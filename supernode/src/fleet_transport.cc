#include "flwr/supernode/fleet_transport.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "fleet_transport_internal.h"
#include "flwr/proto/fleet.pb.h"

namespace flwr::supernode {
namespace {

// "SendNodeHeartbeat" -> "send-node-heartbeat" (flwr's route names).
std::string KebabCase(absl::string_view name) {
  std::string out;
  for (char c : name) {
    if (absl::ascii_isupper(c) && !out.empty()) out.push_back('-');
    out.push_back(absl::ascii_tolower(c));
  }
  return out;
}

std::vector<FleetRpc> ReadFleetRpcs() {
  // Linking fleet.pb.cc puts the service's file in the generated pool.
  const google::protobuf::ServiceDescriptor* service =
      proto::RegisterNodeFleetRequest::descriptor()->file()->FindServiceByName("Fleet");
  std::vector<FleetRpc> rpcs;
  for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* method = service->method(i);
    rpcs.push_back({.index = rpcs.size(),
                    .name = method->name(),
                    .grpc_method = absl::StrCat("/", service->full_name(), "/", method->name()),
                    .http_path = absl::StrCat("/v1/fleet/", KebabCase(method->name())),
                    .request_type = method->input_type(),
                    .response_type = method->output_type()});
  }
  return rpcs;
}

}  // namespace

const std::vector<FleetRpc>& FleetRpcs() {
  static const std::vector<FleetRpc>* const rpcs = new std::vector<FleetRpc>(ReadFleetRpcs());
  return *rpcs;
}

absl::Status FleetTransport::Call(const google::protobuf::Message& request,
                                  google::protobuf::Message* response,
                                  std::optional<absl::Duration> timeout) {
  for (const FleetRpc& rpc : FleetRpcs()) {
    if (rpc.request_type != request.GetDescriptor()) continue;
    if (rpc.response_type != response->GetDescriptor()) {
      return absl::InvalidArgumentError(absl::StrCat("Fleet ", rpc.name, " answers ",
                                                     rpc.response_type->full_name(), ", not ",
                                                     response->GetDescriptor()->full_name()));
    }
    return CallRpc(rpc, request, response, timeout);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("No Fleet RPC takes ", request.GetDescriptor()->full_name()));
}

absl::StatusOr<std::unique_ptr<FleetTransport>> FleetTransport::Create(
    const FleetTransportOptions& options, core::NodeKey key) {
  if (options.address.empty()) return absl::InvalidArgumentError("empty SuperLink address");
  switch (options.kind) {
    case FleetTransportKind::kGrpcRere:
    case FleetTransportKind::kGrpcAdapter:
      return NewGrpcFleetTransport(options, std::move(key));
    case FleetTransportKind::kDetect:
      return NewDetectingFleetTransport(options, std::move(key));
    case FleetTransportKind::kHttp:
      break;
  }
  return NewHttpFleetTransport(options, std::move(key));
}

}  // namespace flwr::supernode
