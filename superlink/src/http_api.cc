#include "flwr/superlink/http_api.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/logging.h"
#include "flwr/core/node_auth.h"
#include "flwr/core/python_compat.h"
#include "flwr/core/runtime_version.h"
#include "flwr/proto/control.pb.h"
#include "flwr/proto/fleet.pb.h"

namespace flwr::superlink {
namespace {

using core::HttpRequestContext;

// The caller's Flower line; HTTP Control callers without version headers are of the newest.
absl::string_view CallerLine(const HttpRequestContext& context) {
  return core::PeerFlowerLine(context.headers()).value_or(core::NewestSupportedFlowerVersion());
}

// `authenticate_node` (flwr/superlink/routers/fleet/node_auth.py): the signed timestamp and the
// key's claim. Every failure is the same 401.
absl::Status AuthenticateNode(FleetService* service, const HttpRequestContext& context,
                              std::optional<absl::string_view> body_public_key,
                              std::optional<uint64_t> claimed_node_id) {
  const absl::Status rejected = absl::UnauthenticatedError(kInvalidNodeAuthMessage);
  const std::optional<absl::string_view> key_header = context.Header(core::kHttpPublicKeyHeader);
  const std::optional<absl::string_view> signature_header =
      context.Header(core::kHttpSignatureHeader);
  const std::optional<absl::string_view> timestamp = context.Header(core::kTimestampHeader);
  if (!key_header || !signature_header || !timestamp) return rejected;
  std::optional<std::string> public_key = core::Base64DecodeValidated(*key_header);
  std::optional<std::string> signature = core::Base64DecodeValidated(*signature_header);
  if (!public_key || !signature) return rejected;
  if (body_public_key && *body_public_key != *public_key) return rejected;
  if (!service
           ->Authenticate(NodeCredentials{*std::move(public_key), std::string(*timestamp),
                                          *std::move(signature)},
                          claimed_node_id)
           .ok()) {
    return rejected;
  }
  return absl::OkStatus();
}

// The node a Fleet request acts for: `node_id` (Deactivate/Unregister) or `node.node_id`.
template <typename Req>
uint64_t ClaimedNode(const Req& request) {
  if constexpr (std::is_same_v<Req, proto::DeactivateNodeRequest> ||
                std::is_same_v<Req, proto::UnregisterNodeFleetRequest>) {
    return request.node_id();
  } else {
    return request.node().node_id();
  }
}

template <typename Req, typename Resp>
void AddFleetRoute(core::HttpProtoServer& server, FleetService* service, absl::string_view name,
                   absl::StatusOr<Resp> (FleetService::*method)(const Req&)) {
  server.AddUnary<Req, Resp>(
      absl::StrCat(kFleetPathPrefix, name),
      [service, method](Req& request, const HttpRequestContext& context) -> absl::StatusOr<Resp> {
        absl::Status auth;
        if constexpr (std::is_same_v<Req, proto::RegisterNodeFleetRequest> ||
                      std::is_same_v<Req, proto::ActivateNodeRequest>) {
          auth = AuthenticateNode(service, context, request.public_key(), std::nullopt);
        } else {
          auth = AuthenticateNode(service, context, std::nullopt, ClaimedNode(request));
        }
        if (!auth.ok()) return auth;
        return (service->*method)(request);
      });
}

template <typename Req, typename Resp>
void AddControlRoute(core::HttpProtoServer& server, absl::string_view name,
                     std::function<absl::StatusOr<Resp>(const Req&, absl::string_view)> call) {
  server.AddUnary<Req, Resp>(
      absl::StrCat(kControlPathPrefix, name),
      [call = std::move(call)](Req& request, const HttpRequestContext& context) {
        return call(request, CallerLine(context));
      });
}

// A route whose answer does not depend on the caller's line.
template <typename Req, typename Resp>
void AddControlRoute(core::HttpProtoServer& server, ControlService* service, absl::string_view name,
                     absl::StatusOr<Resp> (ControlService::*method)(const Req&)) {
  AddControlRoute<Req, Resp>(server, name, [service, method](const Req& request, auto) {
    return (service->*method)(request);
  });
}

}  // namespace

void AddControlRoutes(core::HttpProtoServer& server, ControlService* s) {
  using S = ControlService;
  AddControlRoute(server, s, "start-run", &S::StartRun);
  AddControlRoute<proto::ListRunsRequest, proto::ListRunsResponse>(
      server, "list-runs",
      [s](const auto& request, absl::string_view line) { return s->ListRuns(request, line); });
  AddControlRoute(server, s, "list-run-series", &S::ListRunSeries);
  AddControlRoute<proto::GetRunSeriesRequest, proto::GetRunSeriesResponse>(
      server, "get-run-series",
      [s](const auto& request, absl::string_view line) { return s->GetRunSeries(request, line); });
  AddControlRoute(server, s, "update-run-series-description", &S::UpdateRunSeriesDescription);
  AddControlRoute(server, s, "list-run-series-events", &S::ListRunSeriesEvents);
  AddControlRoute(server, s, "stop-run", &S::StopRun);
  AddControlRoute(server, s, "pull-artifacts", &S::PullArtifacts);
  AddControlRoute(server, s, "start-automation", &S::StartAutomation);
  AddControlRoute(server, s, "list-automations", &S::ListAutomations);
  AddControlRoute(server, s, "stop-automation", &S::StopAutomation);
  AddControlRoute(server, s, "get-login-details", &S::GetLoginDetails);
  AddControlRoute(server, s, "get-auth-tokens", &S::GetAuthTokens);
  AddControlRoute(server, s, "refresh-auth-tokens", &S::RefreshAuthTokens);
  AddControlRoute(server, s, "list-connectors", &S::ListConnectors);
  AddControlRoute(server, s, "disconnect-connector", &S::DisconnectConnector);
  AddControlRoute(server, s, "begin-connector-oauth", &S::BeginConnectorOAuth);
  AddControlRoute(server, s, "complete-connector-oauth", &S::CompleteConnectorOAuth);
  AddControlRoute<proto::RegisterNodeRequest, proto::RegisterNodeResponse>(
      server, "register-node",
      [s](const auto& request, absl::string_view line) { return s->RegisterNode(request, line); });
  AddControlRoute(server, s, "unregister-node", &S::UnregisterNode);
  AddControlRoute(server, s, "list-nodes", &S::ListNodes);
  AddControlRoute(server, s, "list-federations", &S::ListFederations);
  AddControlRoute<proto::ListAppsRequest, proto::ListAppsResponse>(
      server, "list-apps",
      [s](const auto& request, absl::string_view line) { return s->ListApps(request, line); });
  AddControlRoute(server, s, "list-app-associations", &S::ListAppAssociations);
  AddControlRoute(server, s, "add-app", &S::AddApp);
  AddControlRoute(server, s, "remove-app", &S::RemoveApp);
  AddControlRoute(server, s, "show-federation", &S::ShowFederation);
  AddControlRoute(server, s, "set-federation-icon", &S::SetFederationIcon);
  AddControlRoute(server, s, "create-federation", &S::CreateFederation);
  AddControlRoute(server, s, "archive-federation", &S::ArchiveFederation);
  AddControlRoute(server, s, "add-node-to-federation", &S::AddNodeToFederation);
  AddControlRoute(server, s, "remove-node-from-federation", &S::RemoveNodeFromFederation);
  AddControlRoute(server, s, "remove-account-from-federation", &S::RemoveAccountFromFederation);
  AddControlRoute(server, s, "create-invitation", &S::CreateInvitation);
  AddControlRoute(server, s, "list-invitations", &S::ListInvitations);
  AddControlRoute(server, s, "accept-invitation", &S::AcceptInvitation);
  AddControlRoute(server, s, "reject-invitation", &S::RejectInvitation);
  AddControlRoute(server, s, "revoke-invitation", &S::RevokeInvitation);
  AddControlRoute(server, s, "configure-simulation-federation", &S::ConfigureSimulationFederation);
  server.AddServerStream<proto::StreamLogsRequest, proto::StreamLogsResponse>(
      absl::StrCat(kControlPathPrefix, "stream-logs"),
      [s](const proto::StreamLogsRequest& request, const HttpRequestContext& context,
          std::function<bool(const proto::StreamLogsResponse&)> write) {
        return s->StreamLogs(request, write, [&context] { return context.cancelled(); });
      });
  server.AddServerStream<proto::StreamRunEventsRequest, proto::StreamRunEventsResponse>(
      absl::StrCat(kControlPathPrefix, "stream-run-events"),
      [s](const proto::StreamRunEventsRequest& request, const HttpRequestContext& context,
          std::function<bool(const proto::StreamRunEventsResponse&)> write) {
        return s->StreamRunEvents(request, write, [&context] { return context.cancelled(); });
      });
}

void AddFleetRoutes(core::HttpProtoServer& server, FleetService* s) {
  AddFleetRoute(server, s, "register-node", &FleetService::RegisterNode);
  AddFleetRoute(server, s, "activate-node", &FleetService::ActivateNode);
  AddFleetRoute(server, s, "deactivate-node", &FleetService::DeactivateNode);
  AddFleetRoute(server, s, "unregister-node", &FleetService::UnregisterNode);
  AddFleetRoute(server, s, "send-node-heartbeat", &FleetService::SendNodeHeartbeat);
  AddFleetRoute(server, s, "pull-messages", &FleetService::PullMessages);
  AddFleetRoute(server, s, "push-messages", &FleetService::PushMessages);
  AddFleetRoute(server, s, "get-run", &FleetService::GetRun);
  AddFleetRoute(server, s, "get-fab", &FleetService::GetFab);
  AddFleetRoute(server, s, "push-object", &FleetService::PushObject);
  AddFleetRoute(server, s, "pull-object", &FleetService::PullObject);
  AddFleetRoute(server, s, "confirm-message-received", &FleetService::ConfirmMessageReceived);
}

}  // namespace flwr::superlink
