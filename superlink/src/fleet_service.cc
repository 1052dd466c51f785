#include "flwr/superlink/fleet_service.h"

#include <time.h>

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/logging.h"
#include "flwr/core/node_auth.h"
#include "flwr/superlink/message_validator.h"

namespace flwr::superlink {
namespace {

// Reconnect hint flwr sends with PushMessages (seconds).
constexpr uint64_t kReconnectSeconds = 5;

// This thread's CPU time (CLOCK_THREAD_CPUTIME_ID), in nanoseconds.
int64_t ThreadCpuNanos() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

absl::Status FleetService::Authenticate(const NodeCredentials& credentials,
                                        std::optional<uint64_t> claimed_node_id) {
  const int64_t cpu_start = ThreadCpuNanos();
  absl::Status checked = core::CheckSignedRequest(credentials.public_key, credentials.timestamp,
                                                  credentials.signature, clock_());
  signature_check_cpu_ns_.fetch_add(ThreadCpuNanos() - cpu_start, std::memory_order_relaxed);
  signature_checks_.fetch_add(1, std::memory_order_relaxed);
  if (!checked.ok()) return checked;
  if (!claimed_node_id) return absl::OkStatus();
  std::optional<uint64_t> node_id = state_->GetNodeIdByPublicKey(credentials.public_key);
  if (!node_id || *node_id != *claimed_node_id) {
    return absl::UnauthenticatedError(core::kInvalidNodeIdMessage);
  }
  return absl::OkStatus();
}

absl::StatusOr<proto::RegisterNodeFleetResponse> FleetService::RegisterNode(
    const proto::RegisterNodeFleetRequest& request) {
  if (enable_supernode_auth_) {
    return core::FlowerError(core::api_error::kFleetSupernodeRegistrationDisabled,
                             "Attempted to register a SuperNode through the Fleet API while "
                             "SuperNode authentication is enabled");
  }
  absl::StatusOr<uint64_t> node_id = state_->CreateNode(request.public_key(), 0);
  if (!node_id.ok()) return node_id.status();
  core::LogDebug(absl::StrCat("[Fleet.RegisterNode] Registered node_id=", *node_id));
  proto::RegisterNodeFleetResponse response;
  response.set_node_id(*node_id);
  return response;
}

absl::StatusOr<proto::ActivateNodeResponse> FleetService::ActivateNode(
    const proto::ActivateNodeRequest& request) {
  absl::StatusOr<uint64_t> node_id =
      state_->ActivateNode(request.public_key(), request.heartbeat_interval());
  if (!node_id.ok()) return node_id.status();
  core::LogInfo(absl::StrCat("[Fleet.ActivateNode] Activated node_id=", *node_id));
  proto::ActivateNodeResponse response;
  response.set_node_id(*node_id);
  return response;
}

absl::StatusOr<proto::DeactivateNodeResponse> FleetService::DeactivateNode(
    const proto::DeactivateNodeRequest& request) {
  if (absl::Status s = state_->DeactivateNode(request.node_id()); !s.ok()) return s;
  core::LogInfo(absl::StrCat("[Fleet.DeactivateNode] Deactivated node_id=", request.node_id()));
  return proto::DeactivateNodeResponse();
}

absl::StatusOr<proto::UnregisterNodeFleetResponse> FleetService::UnregisterNode(
    const proto::UnregisterNodeFleetRequest& request) {
  if (enable_supernode_auth_) {
    return core::FlowerError(
        core::api_error::kFleetSupernodeUnregistrationDisabled,
        absl::StrCat("node_id=", request.node_id(),
                     ", SuperNode unregistration is disabled through Fleet API."));
  }
  if (absl::Status s = state_->UnregisterNode(request.node_id()); !s.ok()) return s;
  core::LogDebug(absl::StrCat("[Fleet.UnregisterNode] Unregistered node_id=", request.node_id()));
  return proto::UnregisterNodeFleetResponse();
}

absl::StatusOr<proto::SendNodeHeartbeatResponse> FleetService::SendNodeHeartbeat(
    const proto::SendNodeHeartbeatRequest& request) {
  absl::StatusOr<bool> success =
      state_->AcknowledgeNodeHeartbeat(request.node().node_id(), request.heartbeat_interval());
  if (!success.ok()) return success.status();
  proto::SendNodeHeartbeatResponse response;
  response.set_success(*success);
  return response;
}

absl::StatusOr<proto::PullMessagesResponse> FleetService::PullMessages(
    const proto::PullMessagesRequest& request) {
  core::LogInfo(absl::StrCat("[Fleet.PullMessages] node_id=", request.node().node_id()));
  proto::PullMessagesResponse response;
  std::optional<uint64_t> traffic_run;
  absl::ReaderMutexLock lock(&state_->message_tree_mutex());
  for (proto::Message& message : state_->GetMessageIns(request.node().node_id(), 1)) {
    const std::string id = message.metadata().message_id();
    absl::StatusOr<proto::ObjectTree> tree = state_->object_store().GetObjectTree(id);
    if (!tree.ok()) {
      core::LogError(tree.status().message());  // as flwr: logged, and the message deleted
      state_->DeleteMessages({id});
      continue;
    }
    traffic_run = message.metadata().run_id();
    *response.add_messages_list() = std::move(message);
    *response.add_message_object_trees() = *std::move(tree);
  }
  if (traffic_run)
    state_->StoreTraffic(*traffic_run, response.ByteSizeLong(), request.ByteSizeLong());
  return response;
}

absl::StatusOr<proto::PushMessagesResponse> FleetService::PushMessages(
    const proto::PushMessagesRequest& request) {
  core::LogInfo(request.messages_list_size() > 0
                    ? absl::StrCat("[Fleet.PushMessages] Push replies from node_id=",
                                   request.node().node_id())
                    : std::string("[Fleet.PushMessages] No replies to push"));
  if (request.messages_list_size() != 1 || request.message_object_trees_size() != 1) {
    return absl::InvalidArgumentError(
        "PushMessages carries exactly one message and its object tree");
  }
  const proto::Message& message = request.messages_list(0);
  const proto::ObjectTree& tree = request.message_object_trees(0);
  const uint64_t run_id = message.metadata().run_id();
  if (absl::StatusOr<proto::Run> run = RunningRun(run_id); !run.ok()) return run.status();

  const std::string session_id = state_->StartPushSession(run_id);
  proto::PushMessagesResponse response;
  response.mutable_reconnect()->set_reconnect(kReconnectSeconds);
  (*response.mutable_results())[message.metadata().message_id()] = 0;
  response.set_session_id(session_id);
  // As flwr: a reply that cannot be stored is dropped, and the node is told nothing to push.
  if (ValidateMessage(message, /*is_reply=*/true, clock_()).empty() &&
      tree.object_id() == message.metadata().message_id()) {
    absl::StatusOr<std::vector<std::string>> missing =
        state_->StoreMessageWithObjectTree(session_id, message, tree);
    if (missing.ok()) {
      for (std::string& id : *missing) response.add_objects_to_push(std::move(id));
    }
  }
  state_->StoreTraffic(run_id, response.ByteSizeLong(), request.ByteSizeLong());
  if (request.clientapp_runtime_list_size() > 0) {
    state_->AddClientAppRuntime(run_id, request.clientapp_runtime_list(0));
  }
  return response;
}

absl::StatusOr<proto::GetRunResponse> FleetService::GetRun(const proto::GetRunRequest& request) {
  core::LogInfo(absl::StrCat("[Fleet.GetRun] Requesting `Run` for run_id=", request.run_id()));
  if (!state_->GetRun(request.run_id())) {
    return core::FlowerError(core::api_error::kFleetGetRunFailed,
                             absl::StrCat("Run ID not found: ", request.run_id()));
  }
  absl::StatusOr<proto::Run> run = RunningRun(request.run_id());
  if (!run.ok()) return run.status();
  proto::GetRunResponse response;
  *response.mutable_run() = *std::move(run);
  return response;
}

absl::StatusOr<proto::GetFabResponse> FleetService::GetFab(const proto::GetFabRequest& request) {
  core::LogInfo(absl::StrCat("[Fleet.GetFab] Requesting FAB for fab_hash=", request.hash_str()));
  if (!state_->GetRun(request.run_id())) {
    return core::FlowerError(core::api_error::kFleetGetFabFailed,
                             absl::StrCat("Run ID not found: ", request.run_id()));
  }
  absl::StatusOr<proto::Run> run = RunningRun(request.run_id());
  if (!run.ok()) return run.status();
  if (request.hash_str() != run->fab_hash()) {
    return core::FlowerError(core::api_error::kFleetGetFabFailed,
                             absl::StrCat("Requested FAB hash ", request.hash_str(),
                                          " does not match run FAB hash ", run->fab_hash(), "."));
  }
  std::optional<proto::Fab> fab = state_->GetFab(request.hash_str());
  if (!fab) {
    return core::FlowerError(core::api_error::kFleetGetFabFailed,
                             absl::StrCat("Found no FAB with hash: ", request.hash_str()));
  }
  proto::GetFabResponse response;
  *response.mutable_fab() = *std::move(fab);
  return response;
}

absl::StatusOr<proto::PushObjectResponse> FleetService::PushObject(
    const proto::PushObjectRequest& request) {
  core::LogDebug(
      absl::StrCat("[Fleet.PushObject] Push Object with object_id=", request.object_id()));
  if (absl::StatusOr<proto::Run> run = RunningRun(request.run_id()); !run.ok()) {
    return run.status();
  }
  const size_t size = request.object_content().size();
  proto::PushObjectResponse response;
  response.set_stored(state_->StoreObject(request.run_id(), request.session_id(),
                                          request.object_id(), request.object_content()));
  if (response.stored()) state_->StoreTraffic(request.run_id(), 0, size);
  return response;
}

absl::StatusOr<proto::PullObjectResponse> FleetService::PullObject(
    const proto::PullObjectRequest& request) {
  core::LogDebug(
      absl::StrCat("[Fleet.PullObject] Pull Object with object_id=", request.object_id()));
  if (absl::StatusOr<proto::Run> run = RunningRun(request.run_id()); !run.ok()) {
    return run.status();
  }
  proto::PullObjectResponse response;
  std::optional<std::string> content = state_->object_store().Get(request.object_id());
  if (content && content->empty() &&
      state_->ExpirePushSessionsAwaiting(request.run_id(), request.object_id())) {
    content = state_->object_store().Get(request.object_id());
  }
  if (!content) return response;
  response.set_object_found(true);
  response.set_object_available(!content->empty());
  if (response.object_available()) state_->StoreTraffic(request.run_id(), content->size(), 0);
  response.set_object_content(*std::move(content));
  return response;
}

absl::StatusOr<proto::ConfirmMessageReceivedResponse> FleetService::ConfirmMessageReceived(
    const proto::ConfirmMessageReceivedRequest& request) {
  core::LogDebug(absl::StrCat("[Fleet.ConfirmMessageReceived] Message with ID '",
                              request.message_object_id(), "' has been received"));
  if (absl::StatusOr<proto::Run> run = RunningRun(request.run_id()); !run.ok()) {
    return run.status();
  }
  state_->object_store().Delete(request.message_object_id());
  return proto::ConfirmMessageReceivedResponse();
}

absl::StatusOr<proto::Run> FleetService::RunningRun(uint64_t run_id) {
  std::optional<proto::Run> run = state_->GetRun(run_id);
  if (!run) {
    return core::FlowerError(core::api_error::kRunIdNotFound,
                             absl::StrCat("Run ID not found: ", run_id));
  }
  const std::string& status = run->status().status();
  if (status == kStatusFinished) state_->CleanupRun(run_id);
  if (status == kStatusRunning) return *std::move(run);
  std::string message = absl::StrCat("Run is ", status, ".");
  if (run->status().sub_status() == kSubStatusStopped) message += " Stopped by user.";
  return core::FlowerError(core::api_error::kFleetRunStatusNotAllowed, message);
}

}  // namespace flwr::superlink
