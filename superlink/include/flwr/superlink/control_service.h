// ControlService: the Control API logic (the `flwr` CLI <-> SuperLink) of flwr's control
// handlers, transport-free. Without account authentication every caller is the "<id:none>"
// account of the single federation "@none/default", as the stock SuperLink's NoOp plugins. With
// `flower-superlink --simulation` that federation is a simulation one, as flwr's
// NoOpFederationManager(simulation=True): it has a simulation config, and its runs are
// `flwr-simulation` tasks.
#ifndef FLWR_SUPERLINK_CONTROL_SERVICE_H_
#define FLWR_SUPERLINK_CONTROL_SERVICE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "flwr/proto/control.pb.h"
#include "flwr/proto/federation_config.pb.h"
#include "flwr/superlink/link_state.h"

namespace flwr::superlink {

// What the SuperLink's federation runs on (flwr's RunTime): SuperNodes, or simulated ones.
enum class FederationRuntime { kDeployment, kSimulation };

// flwr's DEFAULT_SIMULATION_CONFIG: a simulation federation's config until
// ConfigureSimulationFederation changes it.
proto::SimulationConfig DefaultSimulationConfig();

class ControlService {
 public:
  // How often StreamLogs looks for new log lines.
  static constexpr absl::Duration kLogPollInterval = absl::Milliseconds(500);

  explicit ControlService(LinkState* state,
                          FederationRuntime runtime = FederationRuntime::kDeployment,
                          Clock clock = absl::Now);

  // False on a SuperLink whose Fleet API is GrpcAdapter: as flwr's _get_remote_fab, every
  // request that would fetch an app from Flower Hub (StartRun with an app spec of no stored
  // app, AddApp) is FlowerError 32 (UNSUPPORTED_FAB_HUB_TRANSPORT). Set before serving.
  void set_hub_transport_supported(bool supported) { hub_transport_supported_ = supported; }

  // Stores the FAB, files its app under the federation's apps (flwr's store_app) and creates a
  // pending run with its ServerApp task, in a new run series or the request's `series_id`
  // (FlowerError 14 if that series is unknown or of another federation); in a simulation
  // federation a `flwr-simulation` task, the run keeping the federation's simulation config
  // with the request's `override_federation_config` merged in. InvalidArgument for a FAB whose
  // declared hash is not its SHA-256; FlowerError 15 for a FAB that is not a valid Flower App or
  // an override key the app does not define; 2 for an unknown federation. A FAB above 10 MiB
  // gets an empty response, as flwr answers. A request with an `app_spec` and only a FAB hash
  // starts the stored app of that ID and hash (FlowerError 35 if there is none, 33 for an
  // invalid app spec); other app specs would need Flower Hub (FlowerError 35, or 32 where the
  // transport does not reach it, see set_hub_transport_supported).
  absl::StatusOr<proto::StartRunResponse> StartRun(const proto::StartRunRequest& request);

  // Streams the log of the run's ServerApp after `request.after_timestamp` until the run has
  // finished (then cleans the run up) or `cancelled()` returns true, polling every
  // kLogPollInterval. `write` returns false when the client went away. FlowerError 16 for an
  // unknown run.
  absl::Status StreamLogs(const proto::StreamLogsRequest& request,
                          const std::function<bool(const proto::StreamLogsResponse&)>& write,
                          const std::function<bool()>& cancelled);

  // One run (FlowerError 16 if unknown) or the caller's runs, newest first, at most `limit`.
  // A caller of the 1.42 line (`caller_line`, a pinned version) gets at most 20 runs without
  // a `limit`, after skipping `skip`; a 1.36 caller all of them. Finished runs in the result
  // are cleaned up, as flwr does.
  absl::StatusOr<proto::ListRunsResponse> ListRuns(const proto::ListRunsRequest& request,
                                                   absl::string_view caller_line);

  // FlowerError 16 for an unknown run, 18 for a finished one.
  absl::StatusOr<proto::StopRunResponse> StopRun(const proto::StopRunRequest& request);

  // `flwr supernode register`: a node for the request's public key, owned by the caller's
  // account, registered but not online until it activates over Fleet. FlowerError 22 for a
  // key that is not a PEM EC key on a NIST curve, 23 for a key already in use. A caller of the
  // 1.42 line (`caller_line`) may also give the node a name and a location, FlowerError 45 for
  // a location that is not "<latitude>,<longitude>" in range; a 1.36 caller's are ignored, as
  // 1.36 knows neither. What the state returns for other failures.
  absl::StatusOr<proto::RegisterNodeResponse> RegisterNode(
      const proto::RegisterNodeRequest& request, absl::string_view caller_line);
  // `flwr supernode unregister`: the node is unregistered (its key stays used). FlowerError 24
  // if the caller owns no such node or it is already unregistered; what the state returns
  // otherwise (an SQLite state that cannot be read).
  absl::StatusOr<proto::UnregisterNodeResponse> UnregisterNode(
      const proto::UnregisterNodeRequest& request);
  // `flwr supernode list`: the caller's nodes, stale online ones marked offline first.
  absl::StatusOr<proto::ListNodesResponse> ListNodes(const proto::ListNodesRequest& request);
  absl::StatusOr<proto::ListFederationsResponse> ListFederations(
      const proto::ListFederationsRequest& request);
  // Without account authentication, the stock NoOp plugin's details (authn_type "noop").
  absl::StatusOr<proto::GetLoginDetailsResponse> GetLoginDetails(
      const proto::GetLoginDetailsRequest& request);
  // Without account authentication: FlowerError 19 (`flwr login` has no tokens to get).
  absl::StatusOr<proto::GetAuthTokensResponse> GetAuthTokens(
      const proto::GetAuthTokensRequest& request);
  // Without account authentication: FlowerError 36 (1.42's HTTP-only token refresh).
  absl::StatusOr<proto::RefreshAuthTokensResponse> RefreshAuthTokens(
      const proto::RefreshAuthTokensRequest& request);
  // `flwr pull`: the open-source SuperLink has no artifact provider, FlowerError 20.
  absl::StatusOr<proto::PullArtifactsResponse> PullArtifacts(
      const proto::PullArtifactsRequest& request);

  // The federation-management rpcs answer as flwr's NoOpFederationManager: the one federation
  // "@none/default" with the one member "<id:none>". A request naming no federation is
  // FlowerError 12 where flwr requires one, another federation 25 (membership checks), 2
  // (invitations, simulation config) or an internal error (ShowFederation, as flwr's
  // unhandled ValueError); every change to a federation is FlowerError 1.
  absl::StatusOr<proto::ShowFederationResponse> ShowFederation(
      const proto::ShowFederationRequest& request);
  absl::StatusOr<proto::SetFederationIconResponse> SetFederationIcon(
      const proto::SetFederationIconRequest& request);
  // FlowerError 27 (public details: what is wrong) for a name flwr's is_valid_name refuses.
  absl::StatusOr<proto::CreateFederationResponse> CreateFederation(
      const proto::CreateFederationRequest& request);
  absl::StatusOr<proto::ArchiveFederationResponse> ArchiveFederation(
      const proto::ArchiveFederationRequest& request);
  // FlowerError 28 for a node the state does not know.
  absl::StatusOr<proto::AddNodeToFederationResponse> AddNodeToFederation(
      const proto::AddNodeToFederationRequest& request);
  absl::StatusOr<proto::RemoveNodeFromFederationResponse> RemoveNodeFromFederation(
      const proto::RemoveNodeFromFederationRequest& request);
  absl::StatusOr<proto::RemoveAccountFromFederationResponse> RemoveAccountFromFederation(
      const proto::RemoveAccountFromFederationRequest& request);
  absl::StatusOr<proto::CreateInvitationResponse> CreateInvitation(
      const proto::CreateInvitationRequest& request);
  absl::StatusOr<proto::ListInvitationsResponse> ListInvitations(
      const proto::ListInvitationsRequest& request);
  absl::StatusOr<proto::AcceptInvitationResponse> AcceptInvitation(
      const proto::AcceptInvitationRequest& request);
  absl::StatusOr<proto::RejectInvitationResponse> RejectInvitation(
      const proto::RejectInvitationRequest& request);
  absl::StatusOr<proto::RevokeInvitationResponse> RevokeInvitation(
      const proto::RevokeInvitationRequest& request);
  // Merges the request's config into the simulation config of the federation (the default
  // one where the request names none). FlowerError 2 for another federation, or where the
  // federation is not a simulation one.
  absl::StatusOr<proto::ConfigureSimulationFederationResponse> ConfigureSimulationFederation(
      const proto::ConfigureSimulationFederationRequest& request);

  // Apps: a federation lists the apps of its runs, most recently added first, then flwr's
  // built-in Flower Agent entry (all within `limit`); only a caller of the 1.42 line
  // (`caller_line`) gets their display names, descriptions and colors. RemoveApp forgets one
  // (its FAB stays). Adding one from Flower Hub fails as an offline stock SuperLink's does
  // (FlowerError 33 for a bad app spec, else 34; 32 first where the transport does not reach
  // Flower Hub).
  absl::StatusOr<proto::ListAppsResponse> ListApps(const proto::ListAppsRequest& request,
                                                   absl::string_view caller_line);
  absl::StatusOr<proto::ListAppAssociationsResponse> ListAppAssociations(
      const proto::ListAppAssociationsRequest& request);
  absl::StatusOr<proto::AddAppResponse> AddApp(const proto::AddAppRequest& request);
  absl::StatusOr<proto::RemoveAppResponse> RemoveApp(const proto::RemoveAppRequest& request);

  // Run series, as the state keeps them (most recently updated first), each with its latest
  // run's status. FlowerError 17 for an unknown series, 43 for a description that is empty or
  // over 80 characters once stripped.
  absl::StatusOr<proto::ListRunSeriesResponse> ListRunSeries(
      const proto::ListRunSeriesRequest& request);
  // GetRunSeries: the series, the context its next run starts from and, for a caller of the
  // 1.42 line (`caller_line`; 1.36's response has no such field), its runs.
  absl::StatusOr<proto::GetRunSeriesResponse> GetRunSeries(
      const proto::GetRunSeriesRequest& request, absl::string_view caller_line);
  absl::StatusOr<proto::UpdateRunSeriesDescriptionResponse> UpdateRunSeriesDescription(
      const proto::UpdateRunSeriesDescriptionRequest& request);
  // The task events (Runtime PushTaskEvents) of the primary tasks of the series' runs, in
  // order. FlowerError 17 for an unknown series.
  absl::StatusOr<proto::ListRunSeriesEventsResponse> ListRunSeriesEvents(
      const proto::ListRunSeriesEventsRequest& request);
  // flwr's stream_run_events: writes the events of the run's primary task after
  // `after_task_event_id`, as they come, until the run has finished (all its events written),
  // `write` returns false or `cancelled()` returns true; polls every kLogPollInterval.
  // FlowerError 16 for an unknown run.
  absl::Status StreamRunEvents(
      const proto::StreamRunEventsRequest& request,
      const std::function<bool(const proto::StreamRunEventsResponse&)>& write,
      const std::function<bool()>& cancelled);

  // Automations (flwr's start_automation): stores the StartRun request to run at `start_at`
  // (now if unset), then every `fixed_interval` seconds, `max_runs` times (unbounded with an
  // interval and no max_runs, once without an interval). FlowerError 42 with public details
  // for a request flwr refuses. The series is checked only when a run starts.
  absl::StatusOr<proto::StartAutomationResponse> StartAutomation(
      const proto::StartAutomationRequest& request);
  // flwr's process_due_automations: claims up to `limit` active automations due now (earliest
  // first) and starts each one's run through StartRun; an automation whose run could not start
  // fails, one without runs left completes. Returns how many were claimed. The SuperLink calls
  // it periodically (Server's automation scheduler).
  size_t ProcessDueAutomations(size_t limit);
  // The automations of the caller's federation, most recently updated first; StopAutomation
  // stops an active one (no-op otherwise; FlowerError 25 if it is of another federation).
  absl::StatusOr<proto::ListAutomationsResponse> ListAutomations(
      const proto::ListAutomationsRequest& request);
  absl::StatusOr<proto::StopAutomationResponse> StopAutomation(
      const proto::StopAutomationRequest& request);

  // Connectors: the open-source wheel has no OAuth flows, so none are listed and every
  // request fails flwr's checks (FlowerError 12/25 for the federation, 38 for a missing field,
  // 39 for an unknown connector or session).
  absl::StatusOr<proto::ListConnectorsResponse> ListConnectors(
      const proto::ListConnectorsRequest& request);
  absl::StatusOr<proto::DisconnectConnectorResponse> DisconnectConnector(
      const proto::DisconnectConnectorRequest& request);
  absl::StatusOr<proto::BeginConnectorOAuthResponse> BeginConnectorOAuth(
      const proto::BeginConnectorOAuthRequest& request);
  absl::StatusOr<proto::CompleteConnectorOAuthResponse> CompleteConnectorOAuth(
      const proto::CompleteConnectorOAuthRequest& request);

 private:
  // The caller's run series, most recently updated first, and the one of `series_id`.
  std::vector<proto::RunSeries> RunSeries();
  std::optional<proto::RunSeries> FindRunSeries(uint64_t series_id);

  // The stored FAB of a StartRun request naming a stored app (`app_spec` and a FAB hash
  // without content); nullopt for a request with FAB content or without a hash.
  absl::StatusOr<std::optional<proto::Fab>> StoredAppFab(const proto::StartRunRequest& request);

  // FlowerError 32 unless hub_transport_supported_ (flwr's _get_remote_fab's first check).
  absl::Status HubReachable() const;

  // The federation as ListFederations shows it.
  proto::Federation DefaultFederation() const;
  // The simulation federation's config; nullopt in a deployment one.
  std::optional<proto::SimulationConfig> CurrentSimulationConfig();

  LinkState* state_;
  const FederationRuntime runtime_;
  Clock clock_;
  bool hub_transport_supported_ = true;
  absl::Mutex mu_;
  // flwr keeps it in memory too (NoOpFederationManager): a restart forgets changes.
  proto::SimulationConfig simulation_config_ ABSL_GUARDED_BY(mu_);
};

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_CONTROL_SERVICE_H_
