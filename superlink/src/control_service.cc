#include "flwr/superlink/control_service.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/strings/escaping.h"
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

absl::StatusOr<proto::StartRunResponse> ControlService::StartRun(
    const proto::StartRunRequest& request) {
  core::LogInfo("ControlServicer.StartRun");
  if (!request.federation().empty() && request.federation() != kDefaultFederation) {
    return core::FlowerError(
        core::api_error::kFederationNotFoundOrNoPermission,
        absl::StrCat("Federation '", request.federation(), "' not found or has been archived."));
  }
  if (!request.app_spec().empty() || request.fab().content().empty()) {
    return core::FlowerError(core::api_error::kFabDownloadFailure,
                             "App or FAB not found in the requested federation.");
  }
  const std::string& content = request.fab().content();
  if (content.size() > core::kFabMaxSize) {
    core::LogError(
        absl::StrCat("FAB size exceeds maximum allowed size of ", core::kFabMaxSize, " bytes."));
    return proto::StartRunResponse();
  }
  const std::string fab_hash = core::Sha256Hex(content);
  if (!request.fab().hash_str().empty() && request.fab().hash_str() != fab_hash) {
    return absl::InvalidArgumentError(
        absl::StrCat("FAB hash mismatch: the request says ",
                     absl::CHexEscape(request.fab().hash_str().substr(0, 80)),
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
  proto::Fab stored;
  stored.set_hash_str(fab_hash);
  stored.set_content(content);
  *stored.mutable_verifications() = request.fab().verifications();
  state_->StoreFab(stored);

  NewRun run;
  run.fab_id = fab->fab_id;
  run.fab_version = fab->version;
  run.fab_hash = fab_hash;
  run.override_config = *std::move(overrides);
  absl::StatusOr<CreatedRun> created = state_->CreateRun(run);
  if (!created.ok()) {
    return core::FlowerError(core::api_error::kFailedToCreateRun, created.status().message());
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
    if (core::FlowerMinorVersion(caller_line) >= 42) {
      // control_handlers.list_runs (1.42): a page of 20 by default, after `skip`.
      const size_t skip = std::min<uint64_t>(request.has_skip() ? request.skip() : 0, runs.size());
      runs.erase(runs.begin(), runs.begin() + skip);
      if (!limit) limit = 20;
    }
    if (limit && runs.size() > *limit) runs.resize(*limit);
  }
  proto::ListRunsResponse response;
  for (proto::Run& run : runs) {
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
  if (core::FlowerMinorVersion(caller_line) >= 42) {
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

absl::StatusOr<proto::ListFederationsResponse> ControlService::ListFederations(
    const proto::ListFederationsRequest&) {
  core::LogInfo("ControlServicer.ListFederations");
  proto::ListFederationsResponse response;
  proto::Federation* federation = response.add_federations();
  federation->set_name(std::string(kDefaultFederation));
  federation->set_description(std::string(kDefaultFederationDescription));
  return response;
}

}  // namespace flwr::superlink
