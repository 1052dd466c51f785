#include "flwr/supernode/node_runtime_service.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/logging.h"

namespace flwr::supernode {

absl::StatusOr<proto::PullTaskInputResponse> NodeRuntimeService::PullTaskInput(
    const proto::Task& task, const proto::PullTaskInputRequest&) {
  std::optional<proto::Run> run = state_->GetRun(task.run_id());
  if (!run) {
    return core::FlowerError(core::api_error::kRunIdNotFound,
                             absl::StrCat("Run ID ", task.run_id(), " not found"));
  }
  std::optional<proto::Context> context = state_->GetRunSeriesContext(run->series_id());
  if (!context) {
    return core::FlowerError(core::api_error::kRuntimeRunSeriesContextNotFound,
                             absl::StrCat("No context for run series ", run->series_id()));
  }
  std::optional<proto::Fab> fab = state_->GetFab(run->fab_hash());
  if (!fab) {
    return core::FlowerError(core::api_error::kRuntimeFabNotFound,
                             absl::StrCat("FAB ", run->fab_hash(), " not found"));
  }
  if (!tasks().ActivateTask(task.task_id())) {
    return core::FlowerError(core::api_error::kRuntimeTaskStartFailed,
                             absl::StrCat("Failed to start task ", task.task_id()));
  }
  proto::PullTaskInputResponse response;
  // The series context, with this run's ID (the series' first run may be another).
  context->set_run_id(task.run_id());
  *response.mutable_context() = *std::move(context);
  *response.mutable_run() = *std::move(run);
  *response.mutable_fab() = *std::move(fab);
  // Flower 1.42 apps stamp their messages with it; 1.36 ones ignore it.
  response.set_task_id(task.task_id());
  return response;
}

absl::StatusOr<proto::PushTaskOutputResponse> NodeRuntimeService::PushTaskOutput(
    const proto::Task& task, const proto::PushTaskOutputRequest& request) {
  if (!tasks().FinishTask(task.task_id(), request.sub_status(), request.details())) {
    core::LogError(
        absl::StrCat("Failed to finish task ", task.task_id(), " of run ", task.run_id()));
    return proto::PushTaskOutputResponse();
  }
  if (request.has_context()) {
    if (std::optional<proto::Run> run = state_->GetRun(task.run_id())) {
      state_->SetRunSeriesContext(run->series_id(), request.context());
    }
  }
  return proto::PushTaskOutputResponse();
}

absl::StatusOr<proto::PushLogsResponse> NodeRuntimeService::PushLogs(
    const proto::Task& task, const proto::PushLogsRequest& request) {
  tasks().AddTaskLog(task.task_id(), absl::StrJoin(request.logs(), ""));
  return proto::PushLogsResponse();
}

// Deployment-runtime only: always FlowerError 3005 on a SuperNode, as stock.
absl::StatusOr<proto::GetNodesResponse> NodeRuntimeService::GetNodes(
    const proto::Task&, const proto::GetNodesRequest&) {
  return core::FlowerError(core::api_error::kRuntimeEndpointUnavailable,
                           "This endpoint is only available to ServerApp tasks.");
}

absl::StatusOr<proto::PushAppMessagesResponse> NodeRuntimeService::PushMessages(
    const proto::Task& task, const proto::PushAppMessagesRequest& request) {
  if (request.messages_list_size() != 1 || request.message_object_trees_size() != 1) {
    return core::FlowerError(core::api_error::kRuntimeInvalidMessageCount,
                             "Invalid number of messages or message object trees.");
  }
  const proto::Message& reply = request.messages_list(0);
  const proto::ObjectTree& tree = request.message_object_trees(0);
  if (reply.metadata().run_id() != task.run_id()) {
    return core::FlowerError(core::api_error::kRuntimeMessageRunIdMismatch,
                             "Message run ID does not match the authenticated task.");
  }
  proto::PushAppMessagesResponse response;
  const std::string session_id = state_->StartPushSession(task.run_id());
  response.set_session_id(session_id);
  // As stock: a reply whose ID is not its tree's root is not stored (nothing to push), and
  // its ID comes back as "" (Flower 1.42 answers message_ids; 1.36 clients ignore them).
  if (reply.metadata().message_id().empty() || tree.object_id() != reply.metadata().message_id()) {
    response.add_message_ids("");
    return response;
  }
  absl::StatusOr<std::vector<std::string>> missing =
      state_->PreregisterObjectTree(session_id, task.run_id(), tree);
  if (!missing.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PushMessages: invalid object tree: ", missing.status().message()));
  }
  state_->StoreReply(reply);
  response.add_message_ids(reply.metadata().message_id());
  for (std::string& id : *missing) response.add_objects_to_push(std::move(id));
  return response;
}

absl::StatusOr<proto::PullAppMessagesResponse> NodeRuntimeService::PullMessages(
    const proto::Task& task, const proto::PullAppMessagesRequest&) {
  proto::PullAppMessagesResponse response;
  std::optional<proto::Message> instruction = state_->RetrieveInstruction(task);
  if (!instruction) return response;
  absl::StatusOr<proto::ObjectTree> tree =
      state_->object_store().GetObjectTree(instruction->metadata().message_id());
  if (!tree.ok()) return response;
  *response.add_messages_list() = *std::move(instruction);
  *response.add_message_object_trees() = *std::move(tree);
  return response;
}

absl::StatusOr<proto::PushObjectResponse> NodeRuntimeService::PushObject(
    const proto::Task& task, proto::PushObjectRequest request) {
  proto::PushObjectResponse response;
  response.set_stored(state_->StoreObject(task.run_id(), request.session_id(), request.object_id(),
                                          std::move(*request.mutable_object_content())));
  if (!response.stored()) {
    core::LogError(absl::StrCat("Failed to store object ", request.object_id()));
  }
  return response;
}

absl::StatusOr<std::string> NodeRuntimeService::PullObject(
    const proto::Task&, const proto::PullObjectRequest& request) {
  return core::SerializedPullObjectResponse(state_->object_store(), request.object_id());
}

absl::StatusOr<proto::ConfirmMessageReceivedResponse> NodeRuntimeService::ConfirmMessageReceived(
    const proto::Task&, const proto::ConfirmMessageReceivedRequest& request) {
  state_->object_store().Delete(request.message_object_id());
  return proto::ConfirmMessageReceivedResponse();
}

}  // namespace flwr::supernode
