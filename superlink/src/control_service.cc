#include "flwr/superlink/control_service.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "flwr/core/fab.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/heartbeat_sender.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/logging.h"
#include "flwr/core/node_auth.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/python_compat.h"
#include "flwr/core/runtime_version.h"
#include "flwr/core/sha256.h"
#include "flwr/core/user_config.h"

namespace flwr::superlink {
namespace {

constexpr absl::string_view kDefaultFederationDescription =
    "A federation for testing and development purposes.";
// flwr's FLOWER_AGENT_APP_ID, the built-in app every federation lists.
constexpr absl::string_view kFlowerAgentAppId = "@flwrlabs/flwr-agent";

// The app ID of a valid app spec ("@account/app" or "@account/app==x.y.z").
absl::string_view AppIdOf(absl::string_view spec) {
  return std::pair<absl::string_view, absl::string_view>(
             absl::StrSplit(spec, absl::MaxSplits("==", 1)))
      .first;
}

// flwr.supercore.utils.validate_node_location (1.42): "<latitude>,<longitude>", two finite
// numbers in range. The error's message is flwr's, which the caller sees.
absl::Status ValidateNodeLocation(absl::string_view location) {
  std::vector<absl::string_view> parts = absl::StrSplit(location, ',');
  double latitude = 0;
  double longitude = 0;
  if (parts.size() != 2 || !absl::SimpleAtod(core::PythonStrip(parts[0]), &latitude) ||
      !absl::SimpleAtod(core::PythonStrip(parts[1]), &longitude)) {
    return absl::InvalidArgumentError(
        "Location must contain two comma-separated numbers: \"<latitude>,<longitude>\".");
  }
  if (!std::isfinite(latitude) || !std::isfinite(longitude)) {
    return absl::InvalidArgumentError("Latitude and longitude must be finite numbers.");
  }
  if (!(latitude >= -90 && latitude <= 90) || !(longitude >= -180 && longitude <= 180)) {
    return absl::InvalidArgumentError(
        "Latitude must be between -90 and 90 and longitude must be between -180 and 180.");
  }
  return absl::OkStatus();
}

}  // namespace

proto::SimulationConfig DefaultSimulationConfig() {
  proto::SimulationConfig config;
  config.set_num_supernodes(2);
  config.set_client_resources_num_cpus(2);
  config.set_client_resources_num_gpus(0.0);
  config.set_backend("ray");
  config.set_verbose(false);
  config.set_init_args_logging_level("WARNING");
  config.set_init_args_log_to_driver(true);
  return config;
}

ControlService::ControlService(LinkState* state, FederationRuntime runtime, Clock clock)
    : state_(state),
      runtime_(runtime),
      clock_(std::move(clock)),
      simulation_config_(DefaultSimulationConfig()) {}

std::optional<proto::SimulationConfig> ControlService::CurrentSimulationConfig() {
  if (runtime_ != FederationRuntime::kSimulation) return std::nullopt;
  absl::MutexLock lock(&mu_);
  return simulation_config_;
}

absl::StatusOr<proto::StartRunResponse> ControlService::StartRun(
    const proto::StartRunRequest& request) {
  core::LogInfo("ControlServicer.StartRun");
  if (!request.federation().empty() && request.federation() != kDefaultFederation) {
    return core::FlowerError(
        core::api_error::kFederationNotFoundOrNoPermission,
        absl::StrCat("Federation '", request.federation(), "' not found or has been archived."));
  }
  absl::StatusOr<std::optional<proto::Fab>> stored_app = StoredAppFab(request);
  if (!stored_app.ok()) return stored_app.status();
  if (!*stored_app && !request.app_spec().empty()) {
    if (absl::Status s = HubReachable(); !s.ok()) return s;
  }
  if (!*stored_app && (!request.app_spec().empty() || request.fab().content().empty())) {
    return core::FlowerError(core::api_error::kFabDownloadFailure,
                             "App or FAB not found in the requested federation.");
  }
  const proto::Fab& request_fab = *stored_app ? **stored_app : request.fab();
  const std::string& content = request_fab.content();
  if (content.size() > core::kFabMaxSize) {
    core::LogError(
        absl::StrCat("FAB size exceeds maximum allowed size of ", core::kFabMaxSize, " bytes."));
    return proto::StartRunResponse();
  }
  const std::string fab_hash = core::Sha256Hex(content);
  if (!request_fab.hash_str().empty() && request_fab.hash_str() != fab_hash) {
    return absl::InvalidArgumentError(
        absl::StrCat("FAB hash mismatch: the request says ",
                     absl::CHexEscape(request_fab.hash_str().substr(0, 80)),
                     " but the content hashes to ", fab_hash));
  }
  const std::string context = absl::StrCat("Could not start run for flwr_aid=", kNoAccountId,
                                           ", federation_id=", kDefaultFederation, ": ");
  absl::StatusOr<core::UserConfig> overrides = core::UserConfigFromProto(request.override_config());
  if (!overrides.ok()) {
    return core::FlowerError(core::api_error::kInvalidRunConfig,
                             absl::StrCat(context, overrides.status().message()));
  }
  absl::StatusOr<core::FabInfo> fab = core::ParseFab(content);
  if (!fab.ok()) {
    return core::FlowerError(core::api_error::kInvalidRunConfig,
                             absl::StrCat(context, fab.status().message()));
  }
  absl::StatusOr<core::UserConfig> fused = core::FuseRunConfig(fab->default_config, *overrides);
  if (!fused.ok()) {
    return core::FlowerError(core::api_error::kInvalidRunConfig,
                             absl::StrCat(context, fused.status().message()));
  }
  if (*stored_app && AppIdOf(request.app_spec()) != fab->app_id()) {
    return core::FlowerError(core::api_error::kInvalidAppSpec,
                             "Stored app ID does not match the request");
  }
  if (!*stored_app) {
    proto::Fab stored;
    stored.set_hash_str(fab_hash);
    stored.set_content(content);
    *stored.mutable_verifications() = request_fab.verifications();
    state_->StoreFab(stored);
    // start_run's store_app: the run's app joins the federation's apps.
    proto::AppInfo app;
    app.set_app_id(fab->app_id());
    app.set_fab_hash(fab_hash);
    app.set_app_type(
        std::string(fab->is_agentapp() ? core::kAgentAppTaskType : kServerAppTaskType));
    app.set_is_hub_app(false);
    app.set_display_name(fab->display_name);
    app.set_description(fab->description);
    app.set_color(fab->color);
    state_->StoreApp(kDefaultFederation, app, kNoAccountId);
  }

  NewRun run;
  run.fab_id = fab->fab_id;
  run.fab_version = fab->version;
  run.fab_hash = fab_hash;
  run.override_config = *std::move(overrides);
  if (request.has_series_id()) run.series_id = request.series_id();
  if (std::optional<proto::SimulationConfig> config = CurrentSimulationConfig()) {
    run.primary_task_type = std::string(kSimulationTaskType);
    config->MergeFrom(request.override_federation_config());
    run.federation_config = *std::move(config);
  }
  absl::StatusOr<CreatedRun> created = state_->CreateRun(run);
  if (!created.ok()) {
    core::LogError(created.status().message());
    return core::FlowerError(
        core::api_error::kFailedToCreateRun,
        absl::StrCat("Failed to create or initialize run for flwr_aid=", kNoAccountId,
                     ", federation_id=", kDefaultFederation, ", fab_id=", run.fab_id,
                     ", fab_version=", run.fab_version, ", fab_hash=", fab_hash,
                     ", primary_task_type=", run.primary_task_type, "."));
  }
  core::LogInfo(
      absl::StrCat("Created run ", created->run_id, " in federation ", kDefaultFederation));
  proto::StartRunResponse response;
  response.set_run_id(created->run_id);
  response.set_series_id(created->series_id);
  response.set_federation(std::string(kDefaultFederation));
  return response;
}

absl::Status ControlService::StreamLogs(
    const proto::StreamLogsRequest& request,
    const std::function<bool(const proto::StreamLogsResponse&)>& write,
    const std::function<bool()>& cancelled) {
  core::LogInfo("ControlServicer.StreamLogs");
  std::optional<proto::Run> run = state_->GetRun(request.run_id());
  if (!run) {
    return core::FlowerError(
        core::api_error::kRunIdNotFound,
        absl::StrCat("Run ", request.run_id(), " not found while streaming logs."));
  }
  const uint64_t task_id = run->primary_task_id();
  double cursor = request.after_timestamp() + 1e-6;
  while (!cancelled()) {
    // Read the status before the log, so the last lines of a finished run are never missed.
    std::optional<proto::Run> now = state_->GetRun(request.run_id());
    const bool finished = !now || now->status().status() == kStatusFinished;
    std::vector<TaskLogEntry> entries = state_->tasks().GetTaskLog(task_id, cursor);
    if (!entries.empty()) {
      proto::StreamLogsResponse response;
      for (const TaskLogEntry& entry : entries) response.mutable_log_output()->append(entry.text);
      response.set_latest_timestamp(entries.back().timestamp);
      cursor = entries.back().timestamp;
      if (!write(response)) return absl::OkStatus();
    }
    if (finished) {
      core::LogInfo(absl::StrCat("All logs for run ID `", request.run_id(), "` returned"));
      state_->CleanupRun(request.run_id());
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(kLogPollInterval));
  }
  return absl::OkStatus();
}

absl::StatusOr<proto::ListRunsResponse> ControlService::ListRuns(
    const proto::ListRunsRequest& request, absl::string_view caller_line) {
  core::LogInfo("ControlServicer.ListRuns");
  std::vector<proto::Run> runs;
  if (request.has_run_id()) {
    std::optional<proto::Run> run = state_->GetRun(request.run_id());
    if (!run) {
      return core::FlowerError(core::api_error::kRunIdNotFound,
                               absl::StrCat("Run ID ", request.run_id(), " not found"));
    }
    runs.push_back(*std::move(run));
  } else {
    runs = state_->ListRuns(kNoAccountId);
    std::optional<uint64_t> limit;
    if (request.has_limit()) limit = request.limit();
    if (core::ControlLinePagesRuns(caller_line)) {
      // control_handlers.list_runs (1.42): a page of 20 by default, after `skip`.
      const size_t skip = std::min<uint64_t>(request.has_skip() ? request.skip() : 0, runs.size());
      runs.erase(runs.begin(), runs.begin() + skip);
      if (!limit) limit = 20;
    }
    if (limit && runs.size() > *limit) runs.resize(*limit);
  }
  proto::ListRunsResponse response;
  for (proto::Run& run : runs) {
    // As flwr's list_runs: the stored run has no account name; the caller's runs carry its
    // name, and without account auth every run is the NoOp account's.
    run.set_account_name(std::string(kNoAccountName));
    if (run.status().status() == kStatusFinished) state_->CleanupRun(run.run_id());
    (*response.mutable_run_dict())[run.run_id()] = std::move(run);
  }
  response.set_now(core::FormatIsoUtc(clock_()));
  return response;
}

absl::StatusOr<proto::GetLoginDetailsResponse> ControlService::GetLoginDetails(
    const proto::GetLoginDetailsRequest&) {
  core::LogInfo("ControlServicer.GetLoginDetails");
  // The NoOp account-authentication plugin's details: `flwr login` then says login is not
  // needed.
  proto::GetLoginDetailsResponse response;
  response.set_authn_type("noop");
  return response;
}

absl::StatusOr<proto::StopRunResponse> ControlService::StopRun(
    const proto::StopRunRequest& request) {
  core::LogInfo("ControlServicer.StopRun");
  std::optional<proto::Run> run = state_->GetRun(request.run_id());
  if (!run) {
    return core::FlowerError(core::api_error::kRunIdNotFound,
                             absl::StrCat("Run ID ", request.run_id(), " not found"));
  }
  if (run->status().status() == kStatusFinished) {
    return core::FlowerError(core::api_error::kRunAlreadyFinished,
                             absl::StrCat("Run ", request.run_id(), " is already finished"));
  }
  proto::StopRunResponse response;
  response.set_success(state_->StopRun(request.run_id()));
  return response;
}

absl::StatusOr<proto::RegisterNodeResponse> ControlService::RegisterNode(
    const proto::RegisterNodeRequest& request, absl::string_view caller_line) {
  core::LogInfo("ControlServicer.RegisterNode");
  if (absl::Status s = core::CheckNistEcPublicKey(request.public_key()); !s.ok()) {
    return core::FlowerError(
        core::api_error::kPublicKeyNotValid,
        absl::StrCat("Invalid public key in RegisterNode request: ", s.message()));
  }
  NodeDetails details;
  if (core::ControlLineNamesNodes(caller_line)) {
    if (request.has_location()) {
      if (absl::Status s = ValidateNodeLocation(request.location()); !s.ok()) {
        return core::FlowerError(
            core::api_error::kInvalidSupernodeLocation,
            absl::StrCat("Invalid location in RegisterNode request: ", s.message()),
            std::string(s.message()));
      }
      details.location = request.location();
    }
    if (request.has_name()) details.name = request.name();
  }
  absl::StatusOr<uint64_t> node_id = state_->CreateNode(
      request.public_key(), absl::ToDoubleSeconds(core::kHeartbeatDefaultInterval), details);
  if (core::FlowerErrorCode(node_id.status()) == core::api_error::kPublicKeyAlreadyInUse) {
    return core::FlowerError(core::api_error::kPublicKeyAlreadyInUse,
                             absl::StrCat("Public key already in use while registering node for "
                                          "flwr_aid=",
                                          kNoAccountId, ", account_name=", kNoAccountName, "."));
  }
  if (!node_id.ok()) return node_id.status();
  core::LogInfo(absl::StrCat("[ControlServicer.RegisterNode] Created node_id=", *node_id));
  proto::RegisterNodeResponse response;
  response.set_node_id(*node_id);
  return response;
}

absl::StatusOr<proto::UnregisterNodeResponse> ControlService::UnregisterNode(
    const proto::UnregisterNodeRequest& request) {
  core::LogInfo("ControlServicer.UnregisterNode");
  // Without account authentication every node is the caller's ("<id:none>").
  absl::Status unregistered = state_->UnregisterNode(request.node_id());
  if (core::FlowerErrorCode(unregistered) == core::api_error::kFleetNodeUnregistrationFailed) {
    return core::FlowerError(
        core::api_error::kNodeNotFound,
        absl::StrCat("Node ", request.node_id(), " not found for flwr_aid=", kNoAccountId, "."));
  }
  if (!unregistered.ok()) return unregistered;
  return proto::UnregisterNodeResponse();
}

absl::StatusOr<proto::ListNodesResponse> ControlService::ListNodes(const proto::ListNodesRequest&) {
  core::LogInfo("ControlServicer.ListNodes");
  proto::ListNodesResponse response;
  for (proto::NodeInfo& node : state_->ListNodes()) {
    *response.add_nodes_info() = std::move(node);
  }
  response.set_now(core::FormatIsoUtc(clock_()));
  return response;
}

}  // namespace flwr::superlink

namespace flwr::superlink {
namespace {

// flwr's FederationNotSpecified.
absl::Status FederationNotSpecified() {
  return core::FlowerError(core::api_error::kFederationNotSpecified,
                           "No federation specified in request.");
}

// control_handlers._validate_federation_membership_in_request: the federation is named, is
// the default one, and the caller ("<id:none>") is its member.
absl::Status CheckMembership(absl::string_view federation) {
  if (federation.empty()) return FederationNotSpecified();
  if (federation != kDefaultFederation) {
    return core::FlowerError(core::api_error::kFederationNotFound,
                             absl::StrCat("Federation `", federation, "` not found."));
  }
  return absl::OkStatus();
}

// NoOpFederationManager's UnsupportedError for `operation`.
absl::Status Unsupported(absl::string_view operation) {
  return core::FlowerError(
      core::api_error::kNoFederationManagementSupport,
      absl::StrCat("`", operation, "` is not supported by NoOpFederationManager."));
}

// NoOpFederationManager.get_simulation_config for a federation other than the default one.
absl::Status CheckSimulationConfigAvailable(absl::string_view federation) {
  if (federation == kDefaultFederation) return absl::OkStatus();
  return core::FlowerError(
      core::api_error::kFederationNotFoundOrNoPermission,
      absl::StrCat("Simulation configuration unavailable for federation '", federation, "'."));
}

// flwr.supercore.utils.is_valid_name: "" if `name` is a valid federation name, else why not.
std::string FederationNameError(absl::string_view name) {
  constexpr size_t kMaxNameLength = 32;
  if (name.empty()) return "Cannot be empty.";
  if (name.size() > kMaxNameLength) {
    return absl::StrCat("Must be no longer than ", kMaxNameLength, " characters.");
  }
  if (!absl::ascii_isalpha(name[0])) return "Must start with a letter.";
  for (char c : name.substr(1)) {
    if (!absl::ascii_isalnum(c) && c != '-') {
      return "Can only contain letters, digits, and hyphens.";
    }
  }
  return "";
}

proto::Member OnlyMember() {
  proto::Member member;
  member.mutable_account()->set_id(std::string(kNoAccountId));
  member.mutable_account()->set_name(std::string(kNoAccountName));
  member.set_role("owner");
  return member;
}

// One or more characters of [A-Za-z0-9_.-], as flwr's APP_ID_PATTERN parts.
bool IsAppIdPart(absl::string_view part) {
  return !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

// flwr.supercore.utils.parse_app_spec: "@account/app" or "@account/app==x.y.z".
bool IsValidAppSpec(absl::string_view spec) {
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(spec, absl::MaxSplits("==", 1));
  if (absl::StrContains(spec, "==")) {
    std::vector<absl::string_view> numbers = absl::StrSplit(parts.second, '.');
    if (numbers.size() != 3 ||
        !std::all_of(numbers.begin(), numbers.end(), [](absl::string_view n) {
          return !n.empty() && std::all_of(n.begin(), n.end(), absl::ascii_isdigit);
        })) {
      return false;
    }
  }
  std::pair<absl::string_view, absl::string_view> id =
      absl::StrSplit(parts.first, absl::MaxSplits('/', 1));
  return absl::ConsumePrefix(&id.first, "@") && IsAppIdPart(id.first) && IsAppIdPart(id.second);
}

// control_handlers._validate_federation_and_node_in_request.
absl::Status CheckFederationAndNode(LinkState* state, absl::string_view federation,
                                    uint64_t node_id) {
  if (absl::Status s = CheckMembership(federation); !s.ok()) return s;
  for (const proto::NodeInfo& node : state->ListNodes()) {
    if (node.node_id() == node_id) return absl::OkStatus();
  }
  return core::FlowerError(
      core::api_error::kNodeNotFoundOrNotOwner,
      absl::StrCat("Node ", node_id, " not found or ", kNoAccountId, " is not its owner."));
}

absl::Status RunSeriesNotFound(uint64_t series_id) {
  return core::FlowerError(
      core::api_error::kRunSeriesIdNotFound,
      absl::StrCat("Run series ", series_id, " not found for ", kNoAccountId, "."));
}

absl::Status InvalidConnectorRequest(absl::string_view reason) {
  return core::FlowerError(core::api_error::kInvalidConnectorRequest,
                           absl::StrCat("Invalid connector request: ", reason, "."));
}

absl::Status InvalidAutomationRequest(absl::string_view message, absl::string_view public_details) {
  return core::FlowerError(core::api_error::kInvalidAutomationRequest, message,
                           std::string(public_details));
}

}  // namespace

absl::StatusOr<std::optional<proto::Fab>> ControlService::StoredAppFab(
    const proto::StartRunRequest& request) {
  if (!request.app_spec().empty() && !IsValidAppSpec(request.app_spec())) {
    return core::FlowerError(core::api_error::kInvalidAppSpec,
                             absl::StrCat("Invalid app specification: ", request.app_spec()));
  }
  if (request.fab().hash_str().empty() || !request.fab().content().empty()) return std::nullopt;
  const absl::Status not_found = core::FlowerError(
      core::api_error::kFabDownloadFailure, "App or FAB not found in the requested federation.");
  if (request.app_spec().empty()) return not_found;
  for (const proto::AppInfo& app : state_->ListApps(kDefaultFederation, std::nullopt)) {
    if (app.app_id() != AppIdOf(request.app_spec()) || app.fab_hash() != request.fab().hash_str()) {
      continue;
    }
    if (std::optional<proto::Fab> fab = state_->GetFab(app.fab_hash())) return fab;
  }
  return not_found;
}

absl::Status ControlService::HubReachable() const {
  if (hub_transport_supported_) return absl::OkStatus();
  return core::FlowerError(core::api_error::kUnsupportedFabHubTransport,
                           "The selected SuperLink transport type is not supported for "
                           "connecting to Flower Hub.");
}

// NoOpFederationManager's federation, as list_federations shows it.
proto::Federation ControlService::DefaultFederation() const {
  proto::Federation federation;
  federation.set_name(std::string(kDefaultFederation));
  federation.set_description(std::string(kDefaultFederationDescription));
  *federation.add_members() = OnlyMember();
  federation.set_member_count(1);
  federation.set_simulation(runtime_ == FederationRuntime::kSimulation);
  return federation;
}

absl::StatusOr<proto::GetAuthTokensResponse> ControlService::GetAuthTokens(
    const proto::GetAuthTokensRequest&) {
  core::LogInfo("ControlServicer.GetAuthTokens");
  return core::FlowerError(core::api_error::kNoAccountAuth,
                           "ControlServicer initialized without account authentication.");
}

absl::StatusOr<proto::RefreshAuthTokensResponse> ControlService::RefreshAuthTokens(
    const proto::RefreshAuthTokensRequest& request) {
  core::LogInfo("ControlServicer.RefreshAuthTokens");
  return core::FlowerError(core::api_error::kAccountAuthenticationFailed,
                           request.refresh_token().empty()
                               ? "Refresh token is missing."
                               : "Authentication plugin failed to refresh account tokens.");
}

absl::StatusOr<proto::PullArtifactsResponse> ControlService::PullArtifacts(
    const proto::PullArtifactsRequest&) {
  core::LogInfo("ControlServicer.PullArtifacts");
  return core::FlowerError(core::api_error::kNoArtifactProvider,
                           "ControlServicer initialized without artifact provider.");
}

absl::StatusOr<proto::ListFederationsResponse> ControlService::ListFederations(
    const proto::ListFederationsRequest&) {
  core::LogInfo("ControlServicer.ListFederations");
  proto::ListFederationsResponse response;
  *response.add_federations() = DefaultFederation();
  return response;
}

absl::StatusOr<proto::ShowFederationResponse> ControlService::ShowFederation(
    const proto::ShowFederationRequest& request) {
  core::LogInfo("ControlServicer.ShowFederation");
  if (request.federation_name() != kDefaultFederation) {
    // NoOpFederationManager.has_member raises ValueError, which flwr does not handle.
    return absl::InternalError(
        absl::StrCat("Federation '", request.federation_name(), "' does not exist."));
  }
  proto::ShowFederationResponse response;
  proto::Federation* federation = response.mutable_federation();
  *federation = DefaultFederation();
  if (std::optional<proto::SimulationConfig> config = CurrentSimulationConfig()) {
    *federation->mutable_config() = *std::move(config);
  }
  for (proto::NodeInfo& node : state_->ListNodes()) *federation->add_nodes() = std::move(node);
  for (proto::Run& run : state_->ListRuns(kNoAccountId)) *federation->add_runs() = std::move(run);
  response.set_now(core::FormatIsoUtc(clock_()));
  return response;
}

absl::StatusOr<proto::SetFederationIconResponse> ControlService::SetFederationIcon(
    const proto::SetFederationIconRequest& request) {
  core::LogInfo("ControlServicer.SetFederationIcon");
  if (request.federation_name().empty()) return FederationNotSpecified();
  return Unsupported("set_icon_key");
}

absl::StatusOr<proto::CreateFederationResponse> ControlService::CreateFederation(
    const proto::CreateFederationRequest& request) {
  core::LogInfo("ControlServicer.CreateFederation");
  if (request.federation_name().empty()) return FederationNotSpecified();
  if (std::string error = FederationNameError(request.federation_name()); !error.empty()) {
    return core::FlowerError(
        core::api_error::kInvalidFederationName,
        absl::StrCat("Invalid federation name in CreateFederation request: federation_name=",
                     request.federation_name(), ". ", error),
        error);
  }
  return Unsupported("create_federation");
}

absl::StatusOr<proto::ArchiveFederationResponse> ControlService::ArchiveFederation(
    const proto::ArchiveFederationRequest& request) {
  core::LogInfo("ControlServicer.ArchiveFederation");
  if (request.federation_name().empty()) return FederationNotSpecified();
  return Unsupported("archive_federation");
}

absl::StatusOr<proto::AddNodeToFederationResponse> ControlService::AddNodeToFederation(
    const proto::AddNodeToFederationRequest& request) {
  core::LogInfo("ControlServicer.AddNodeToFederation");
  if (absl::Status s = CheckFederationAndNode(state_, request.federation_name(), request.node_id());
      !s.ok()) {
    return s;
  }
  return Unsupported("add_supernode");
}

absl::StatusOr<proto::RemoveNodeFromFederationResponse> ControlService::RemoveNodeFromFederation(
    const proto::RemoveNodeFromFederationRequest& request) {
  core::LogInfo("ControlServicer.RemoveNodeFromFederation");
  if (absl::Status s = CheckFederationAndNode(state_, request.federation_name(), request.node_id());
      !s.ok()) {
    return s;
  }
  return Unsupported("remove_supernode");
}

absl::StatusOr<proto::RemoveAccountFromFederationResponse>
ControlService::RemoveAccountFromFederation(const proto::RemoveAccountFromFederationRequest&) {
  core::LogInfo("ControlServicer.RemoveAccountFromFederation");
  return Unsupported("remove_account");
}

absl::StatusOr<proto::CreateInvitationResponse> ControlService::CreateInvitation(
    const proto::CreateInvitationRequest& request) {
  core::LogInfo("ControlServicer.CreateInvitation");
  if (absl::Status s = CheckSimulationConfigAvailable(request.federation_name()); !s.ok()) return s;
  return Unsupported("create_invitation");
}

absl::StatusOr<proto::ListInvitationsResponse> ControlService::ListInvitations(
    const proto::ListInvitationsRequest&) {
  core::LogInfo("ControlServicer.ListInvitations");
  return Unsupported("list_invitations");
}

absl::StatusOr<proto::AcceptInvitationResponse> ControlService::AcceptInvitation(
    const proto::AcceptInvitationRequest& request) {
  core::LogInfo("ControlServicer.AcceptInvitation");
  if (absl::Status s = CheckSimulationConfigAvailable(request.federation_name()); !s.ok()) return s;
  return Unsupported("accept_invitation");
}

absl::StatusOr<proto::RejectInvitationResponse> ControlService::RejectInvitation(
    const proto::RejectInvitationRequest&) {
  core::LogInfo("ControlServicer.RejectInvitation");
  return Unsupported("reject_invitation");
}

absl::StatusOr<proto::RevokeInvitationResponse> ControlService::RevokeInvitation(
    const proto::RevokeInvitationRequest&) {
  core::LogInfo("ControlServicer.RevokeInvitation");
  return Unsupported("revoke_invitation");
}

absl::StatusOr<proto::ConfigureSimulationFederationResponse>
ControlService::ConfigureSimulationFederation(
    const proto::ConfigureSimulationFederationRequest& request) {
  core::LogInfo("ControlServicer.ConfigureSimulationFederation");
  if (!request.federation_name().empty() && request.federation_name() != kDefaultFederation) {
    return core::FlowerError(core::api_error::kFederationNotFoundOrNoPermission,
                             absl::StrCat("Federation '", request.federation_name(),
                                          "' not found or has been archived."));
  }
  if (runtime_ != FederationRuntime::kSimulation) {
    return core::FlowerError(core::api_error::kFederationNotFoundOrNoPermission,
                             absl::StrCat("Cannot set simulation configuration for federation '",
                                          kDefaultFederation, "'."));
  }
  {
    absl::MutexLock lock(&mu_);
    simulation_config_.MergeFrom(request.config());
  }
  proto::ConfigureSimulationFederationResponse response;
  response.set_federation_name(std::string(kDefaultFederation));
  return response;
}

absl::StatusOr<proto::ListAppsResponse> ControlService::ListApps(
    const proto::ListAppsRequest& request, absl::string_view caller_line) {
  if (absl::Status s = CheckMembership(request.federation_id()); !s.ok()) return s;
  std::optional<size_t> limit;
  if (request.has_limit()) limit = request.limit();
  proto::ListAppsResponse response;
  std::vector<proto::AppInfo> apps = state_->ListApps(request.federation_id(), limit);
  // flwr's built-in Flower Agent is listed last unless the federation stores it.
  const bool has_agent = std::any_of(apps.begin(), apps.end(), [](const proto::AppInfo& app) {
    return app.app_id() == kFlowerAgentAppId;
  });
  if ((!limit || *limit > 0) && !has_agent) {
    if (limit && apps.size() > *limit - 1) apps.resize(*limit - 1);
    proto::AppInfo& agent = apps.emplace_back();
    agent.set_app_id(std::string(kFlowerAgentAppId));
    agent.set_app_type(std::string(core::kAgentAppTaskType));
    agent.set_is_hub_app(true);
    agent.set_display_name("Flower Agent");
    agent.set_description("Chat with Flower Agent");
    agent.set_color("yellow");
  }
  for (proto::AppInfo& app : apps) {
    if (!core::ControlLineShowsAppDetails(caller_line)) {
      app.clear_display_name();
      app.clear_description();
      app.clear_color();
    }
    *response.add_apps() = std::move(app);
  }
  return response;
}

absl::StatusOr<proto::ListAppAssociationsResponse> ControlService::ListAppAssociations(
    const proto::ListAppAssociationsRequest& request) {
  // flwr's list_app_associations over the caller's one federation: the Flower Agent is in
  // every federation, another app where the federation stores it.
  proto::ListAppAssociationsResponse response;
  if (request.app_id().empty()) return response;
  const std::vector<proto::AppInfo> apps = state_->ListApps(kDefaultFederation, std::nullopt);
  if (request.app_id() == kFlowerAgentAppId ||
      std::any_of(apps.begin(), apps.end(),
                  [&](const proto::AppInfo& app) { return app.app_id() == request.app_id(); })) {
    response.add_federation_ids(std::string(kDefaultFederation));
  }
  return response;
}

absl::StatusOr<proto::AddAppResponse> ControlService::AddApp(const proto::AddAppRequest& request) {
  if (absl::Status s = CheckMembership(request.federation_id()); !s.ok()) return s;
  if (absl::Status s = HubReachable(); !s.ok()) return s;
  if (!IsValidAppSpec(request.app_id())) {
    return core::FlowerError(core::api_error::kInvalidAppSpec,
                             absl::StrCat("Invalid app specification: ", request.app_id()));
  }
  return core::FlowerError(
      core::api_error::kFabDownloadLinkFailure,
      absl::StrCat("Failed to request FAB download link. app-id:", request.app_id(),
                   " (this SuperLink does not fetch apps from Flower Hub)"));
}

absl::StatusOr<proto::RemoveAppResponse> ControlService::RemoveApp(
    const proto::RemoveAppRequest& request) {
  if (absl::Status s = CheckMembership(request.federation_id()); !s.ok()) return s;
  state_->DeleteApp(request.federation_id(), request.app_id());
  return proto::RemoveAppResponse();
}

std::vector<proto::RunSeries> ControlService::RunSeries() {
  std::vector<proto::RunSeries> entries = state_->ListRunSeries();
  // _with_last_run_statuses: the status of each series' latest run.
  for (proto::RunSeries& series : entries) {
    if (series.run_ids().empty()) continue;
    if (std::optional<proto::Run> run = state_->GetRun(*series.run_ids().rbegin())) {
      *series.mutable_last_run_status() = run->status();
    }
  }
  return entries;
}

std::optional<proto::RunSeries> ControlService::FindRunSeries(uint64_t series_id) {
  for (proto::RunSeries& series : RunSeries()) {
    if (series.series_id() == series_id) return std::move(series);
  }
  return std::nullopt;
}

absl::StatusOr<proto::ListRunSeriesResponse> ControlService::ListRunSeries(
    const proto::ListRunSeriesRequest& request) {
  core::LogInfo("ControlServicer.ListRunSeries");
  if (request.has_federation_id()) {
    if (absl::Status s = CheckMembership(request.federation_id()); !s.ok()) return s;
  }
  proto::ListRunSeriesResponse response;
  // No run here is an AgentApp's.
  if (request.has_is_agent() && request.is_agent()) return response;
  for (proto::RunSeries& series : RunSeries()) {
    if (request.has_limit() && static_cast<uint64_t>(response.entries_size()) >= request.limit()) {
      break;
    }
    if (request.has_updated_before() && series.updated_at() >= request.updated_before()) continue;
    *response.add_entries() = std::move(series);
  }
  return response;
}

absl::StatusOr<proto::GetRunSeriesResponse> ControlService::GetRunSeries(
    const proto::GetRunSeriesRequest& request, absl::string_view caller_line) {
  core::LogInfo("ControlServicer.GetRunSeries");
  std::optional<proto::RunSeries> series = FindRunSeries(request.series_id());
  if (!series) return RunSeriesNotFound(request.series_id());
  proto::GetRunSeriesResponse response;
  for (uint64_t run_id : series->run_ids()) {
    std::optional<proto::Run> run = state_->GetRun(run_id);
    if (run && core::ControlLineListsSeriesRuns(caller_line)) {
      *response.add_runs() = *std::move(run);
    }
    if (std::optional<proto::Context> context = state_->GetRunContext(run_id)) {
      *response.mutable_context() = *std::move(context);
    }
  }
  *response.mutable_series() = *std::move(series);
  return response;
}

absl::StatusOr<proto::UpdateRunSeriesDescriptionResponse>
ControlService::UpdateRunSeriesDescription(
    const proto::UpdateRunSeriesDescriptionRequest& request) {
  core::LogInfo("ControlServicer.UpdateRunSeriesDescription");
  std::optional<proto::RunSeries> series = FindRunSeries(request.series_id());
  if (!series) return RunSeriesNotFound(request.series_id());
  constexpr size_t kMaxDescriptionLength = 80;
  const std::string description(core::PythonStrip(request.description()));
  const size_t length = std::count_if(description.begin(), description.end(),
                                      [](char c) { return (c & 0xC0) != 0x80; });
  if (description.empty() || length > kMaxDescriptionLength) {
    return core::FlowerError(core::api_error::kInvalidRunSeriesDescription,
                             absl::StrCat("Run series description must contain between 1 and ",
                                          kMaxDescriptionLength, " characters."));
  }
  state_->SetRunSeriesDescription(request.series_id(), description);
  // flwr answers the stored series, without the status of its latest run.
  series->clear_last_run_status();
  series->set_description(description);
  proto::UpdateRunSeriesDescriptionResponse response;
  *response.mutable_series() = *std::move(series);
  return response;
}

absl::StatusOr<proto::ListRunSeriesEventsResponse> ControlService::ListRunSeriesEvents(
    const proto::ListRunSeriesEventsRequest& request) {
  core::LogInfo("ControlServicer.ListRunSeriesEvents");
  std::optional<proto::RunSeries> series = FindRunSeries(request.series_id());
  if (!series) return RunSeriesNotFound(request.series_id());
  std::vector<uint64_t> run_ids;
  std::vector<uint64_t> task_ids;
  for (uint64_t run_id : series->run_ids()) {
    if (std::optional<proto::Run> run = state_->GetRun(run_id)) {
      run_ids.push_back(run_id);
      task_ids.push_back(run->primary_task_id());
    }
  }
  proto::ListRunSeriesEventsResponse response;
  for (proto::TaskEvent& event : state_->tasks().GetTaskEvents(run_ids, task_ids, 0)) {
    *response.add_events() = std::move(event);
  }
  return response;
}

absl::Status ControlService::StreamRunEvents(
    const proto::StreamRunEventsRequest& request,
    const std::function<bool(const proto::StreamRunEventsResponse&)>& write,
    const std::function<bool()>& cancelled) {
  core::LogInfo("ControlServicer.StreamRunEvents");
  std::optional<proto::Run> run = state_->GetRun(request.run_id());
  if (!run) {
    return core::FlowerError(
        core::api_error::kRunIdNotFound,
        absl::StrCat("Run ", request.run_id(), " not found while streaming run events."));
  }
  const uint64_t task_id = run->primary_task_id();
  uint64_t after = request.after_task_event_id();
  while (!cancelled()) {
    // Finished before this batch: the batch holds the last events.
    const bool last_batch = run->status().status() == kStatusFinished;
    for (const proto::TaskEvent& event :
         state_->tasks().GetTaskEvents({request.run_id()}, {task_id}, after)) {
      after = event.id();
      proto::StreamRunEventsResponse response;
      *response.mutable_task_event() = event;
      if (!write(response)) return absl::OkStatus();
    }
    if (last_batch) {
      core::LogInfo(absl::StrCat("All events for run ID `", request.run_id(), "` returned"));
      break;
    }
    run = state_->GetRun(request.run_id());
    if (!run) break;
    // Finished meanwhile: fetch the last batch at once.
    if (run->status().status() == kStatusFinished) continue;
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(kLogPollInterval));
  }
  return absl::OkStatus();
}

absl::StatusOr<proto::StartAutomationResponse> ControlService::StartAutomation(
    const proto::StartAutomationRequest& request) {
  core::LogInfo("ControlServicer.StartAutomation");
  if (!request.start_run_request().has_series_id()) {
    return InvalidAutomationRequest("StartAutomation requires start_run_request.series_id.",
                                    "The run `series_id` is required to start an automation.");
  }
  if (request.start_run_request().fab().content().size() > core::kFabMaxSize) {
    return InvalidAutomationRequest(
        absl::StrCat("StartAutomation FAB size exceeds the maximum allowed size of ",
                     core::kFabMaxSize, " bytes."),
        absl::StrCat("The FAB must not exceed ", core::kFabMaxSize,
                     " bytes when starting an automation."));
  }
  const bool has_interval = request.has_fixed_interval();
  if (request.has_max_runs() && request.max_runs() < 1) {
    return InvalidAutomationRequest("`max_runs` must be greater than zero.",
                                    "`max_runs` must be greater than zero.");
  }
  if (has_interval && request.fixed_interval() < 1) {
    return InvalidAutomationRequest("`fixed_interval` must be greater than zero.",
                                    "`fixed_interval` must be greater than zero.");
  }
  if (has_interval && request.fixed_interval() >= (uint64_t{1} << 63)) {
    return InvalidAutomationRequest("`fixed_interval` must be less than 2**63.",
                                    "`fixed_interval` must be less than 2**63.");
  }
  if (!has_interval && request.has_max_runs() && request.max_runs() > 1) {
    return InvalidAutomationRequest(
        "`fixed_interval` is required for automations with multiple runs.",
        "`fixed_interval` is required for automations with multiple runs.");
  }
  std::string next_run_at = core::FormatIsoUtc(clock_());
  if (request.has_start_at()) {
    absl::StatusOr<absl::Time> start_at = core::ParseIsoTime(request.start_at());
    if (!start_at.ok()) {
      return InvalidAutomationRequest(
          absl::StrCat("Invalid automation start_at value: ", request.start_at()),
          "The automation start_at value must be a valid ISO 8601 timestamp with a timezone.");
    }
    next_run_at = core::FormatIsoUtc(*start_at);
  }
  const proto::StartRunRequest& run_request = request.start_run_request();
  proto::Automation automation;
  automation.set_federation(run_request.federation().empty() ? std::string(kDefaultFederation)
                                                             : run_request.federation());
  automation.set_series_id(run_request.series_id());
  automation.set_flwr_aid(std::string(kNoAccountId));
  automation.set_next_run_at(next_run_at);
  // One-run automations do not recur: no interval.
  const uint64_t max_runs = request.has_max_runs() ? request.max_runs() : (has_interval ? 0 : 1);
  if (max_runs > 0) automation.set_remaining_runs(max_runs);
  if (has_interval && max_runs != 1) automation.set_fixed_interval(request.fixed_interval());
  proto::StartRunRequest stored_request = run_request;
  stored_request.set_federation(automation.federation());
  automation = state_->StoreAutomation(std::move(automation), stored_request);
  proto::StartAutomationResponse response;
  response.set_automation_id(automation.automation_id());
  response.set_series_id(automation.series_id());
  response.set_next_run_at(automation.next_run_at());
  return response;
}

size_t ControlService::ProcessDueAutomations(size_t limit) {
  AutomationFilter due;
  due.statuses = {std::string(kAutomationActive)};
  due.due_before = clock_();
  due.order_by_next_run_at = true;
  due.limit = limit;
  size_t dispatched = 0;
  for (const proto::Automation& automation : state_->ListAutomations(due)) {
    absl::StatusOr<absl::Time> previous = core::ParseIsoTime(automation.next_run_at());
    if (!previous.ok()) continue;
    const std::string next_run_at =
        core::FormatIsoUtc(*previous + absl::Seconds(automation.fixed_interval()));
    std::optional<std::pair<proto::StartRunRequest, std::string>> claimed =
        state_->ClaimAutomation(automation.automation_id(), automation.next_run_at(), next_run_at);
    if (!claimed) continue;
    ++dispatched;
    absl::StatusOr<proto::StartRunResponse> started = StartRun(claimed->first);
    if (!started.ok()) {
      state_->FinishAutomation(automation.automation_id(), kAutomationFailed);
      core::LogError(absl::StrCat("Failing automation ", automation.automation_id(), ": ",
                                  started.status().message()));
      continue;
    }
    state_->FinishAutomation(automation.automation_id(),
                             started->has_run_id() ? kAutomationCompleted : kAutomationFailed);
  }
  return dispatched;
}

absl::StatusOr<proto::ListAutomationsResponse> ControlService::ListAutomations(
    const proto::ListAutomationsRequest& request) {
  core::LogInfo("ControlServicer.ListAutomations");
  if (!request.federation().empty()) {
    if (absl::Status s = CheckMembership(request.federation()); !s.ok()) return s;
  }
  AutomationFilter filter;
  filter.federations = {std::string(kDefaultFederation)};
  proto::ListAutomationsResponse response;
  for (proto::Automation& automation : state_->ListAutomations(filter)) {
    *response.add_automations() = std::move(automation);
  }
  return response;
}

absl::StatusOr<proto::StopAutomationResponse> ControlService::StopAutomation(
    const proto::StopAutomationRequest& request) {
  core::LogInfo("ControlServicer.StopAutomation");
  AutomationFilter filter;
  filter.automation_ids = {request.automation_id()};
  std::vector<proto::Automation> found = state_->ListAutomations(filter);
  if (!found.empty()) {
    if (absl::Status s = CheckMembership(found.front().federation()); !s.ok()) return s;
  }
  state_->StopAutomation(request.automation_id());
  return proto::StopAutomationResponse();
}

absl::StatusOr<proto::ListConnectorsResponse> ControlService::ListConnectors(
    const proto::ListConnectorsRequest& request) {
  core::LogInfo("ControlServicer.ListConnectors");
  if (!request.federation().empty()) {
    if (absl::Status s = CheckMembership(request.federation()); !s.ok()) return s;
  }
  return proto::ListConnectorsResponse();
}

absl::StatusOr<proto::DisconnectConnectorResponse> ControlService::DisconnectConnector(
    const proto::DisconnectConnectorRequest& request) {
  core::LogInfo("ControlServicer.DisconnectConnector");
  if (absl::Status s = CheckMembership(core::PythonStrip(request.federation())); !s.ok()) return s;
  constexpr uint64_t kInt64Max = (uint64_t{1} << 63) - 1;
  if (request.connector_id() > kInt64Max) {
    return InvalidConnectorRequest(absl::StrCat("connector_id must not exceed ", kInt64Max));
  }
  if (request.connector_id() == 0) return InvalidConnectorRequest("connector_id is required");
  return core::FlowerError(core::api_error::kConnectorNotFound,
                           absl::StrCat("Connector '", request.connector_id(),
                                        "' is not connected for this federation."));
}

absl::StatusOr<proto::BeginConnectorOAuthResponse> ControlService::BeginConnectorOAuth(
    const proto::BeginConnectorOAuthRequest& request) {
  core::LogInfo("ControlServicer.BeginConnectorOAuth");
  if (absl::Status s = CheckMembership(core::PythonStrip(request.federation())); !s.ok()) return s;
  const std::string connector_ref =
      absl::AsciiStrToLower(core::PythonStrip(request.connector_ref()));
  if (connector_ref.empty()) return InvalidConnectorRequest("connector_ref is required");
  if (core::PythonStrip(request.redirect_uri()).empty()) {
    return InvalidConnectorRequest("redirect_uri is required");
  }
  return core::FlowerError(
      core::api_error::kConnectorNotFound,
      absl::StrCat("OAuth flow for connector '", connector_ref, "' was not found."));
}

absl::StatusOr<proto::CompleteConnectorOAuthResponse> ControlService::CompleteConnectorOAuth(
    const proto::CompleteConnectorOAuthRequest& request) {
  core::LogInfo("ControlServicer.CompleteConnectorOAuth");
  if (core::PythonStrip(request.oauth_session_id()).empty()) {
    return InvalidConnectorRequest("oauth_session_id is required");
  }
  if (core::PythonStrip(request.code()).empty()) return InvalidConnectorRequest("code is required");
  if (request.state().empty()) return InvalidConnectorRequest("state is required");
  return core::FlowerError(core::api_error::kConnectorNotFound,
                           "Connector OAuth session was not found for this account.");
}

}  // namespace flwr::superlink
