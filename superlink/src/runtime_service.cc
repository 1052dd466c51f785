#include "flwr/superlink/runtime_service.h"

#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/logging.h"
#include "flwr/core/proto_convert.h"
#include "flwr/superlink/message_validator.h"

namespace flwr::superlink {
namespace {

absl::Status RequireServerApp(const proto::Task& task) {
  if (task.type() == kServerAppTaskType) return absl::OkStatus();
  return core::FlowerError(core::api_error::kRuntimeEndpointUnavailable,
                           absl::StrCat("Task type ", task.type(), " cannot use this endpoint"));
}

absl::Status RequireSuperLinkNode(const proto::Node& node) {
  if (node.node_id() == kSuperLinkNodeId) return absl::OkStatus();
  return core::FlowerError(core::api_error::kRuntimeUnexpectedNodeId,
                           absl::StrCat("Unexpected node ID ", node.node_id()));
}

}  // namespace

absl::StatusOr<proto::PullTaskInputResponse> RuntimeService::PullTaskInput(
    const proto::Task& task, const proto::PullTaskInputRequest&) {
  std::optional<proto::Run> run = state_->GetRun(task.run_id());
  std::optional<proto::Fab> fab;
  if (run) fab = state_->GetFab(run->fab_hash());
  std::optional<proto::Context> context = state_->GetRunContext(task.run_id());
  if (!run || !fab || !context || !tasks().ActivateTask(task.task_id())) {
    return core::FlowerError(core::api_error::kRuntimeTaskStartFailed,
                             absl::StrCat("Failed to start task ", task.task_id()));
  }
  proto::PullTaskInputResponse response;
  *response.mutable_context() = *std::move(context);
  // As flwr's pull_task_input: the run as read before its task started ("starting").
  *response.mutable_run() = *std::move(run);
  *response.mutable_fab() = *std::move(fab);
  // A simulation run's: what its `flwr-simulation` simulates (as flwr's get_federation_config).
  if (std::optional<proto::SimulationConfig> config = state_->GetFederationConfig(task.run_id())) {
    *response.mutable_federation_config() = *std::move(config);
  }
  response.set_task_id(task.task_id());
  return response;
}

absl::StatusOr<proto::PushTaskOutputResponse> RuntimeService::PushTaskOutput(
    const proto::Task& task, const proto::PushTaskOutputRequest& request) {
  if (request.has_clientapp_runtime()) {
    state_->AddClientAppRuntime(task.run_id(), request.clientapp_runtime());
  }
  std::optional<proto::Run> run = state_->GetRun(task.run_id());
  const bool primary = run && run->primary_task_id() == task.task_id();
  if (primary) {
    absl::MutexLock lock(&batches_mu_);
    last_batch_.erase(task.run_id());
  }
  if (tasks().FinishTask(task.task_id(), request.sub_status(), request.details()) && primary &&
      request.has_context()) {
    state_->SetRunContext(task.run_id(), request.context());
  }
  return proto::PushTaskOutputResponse();
}

absl::StatusOr<proto::PushLogsResponse> RuntimeService::PushLogs(
    const proto::Task& task, const proto::PushLogsRequest& request) {
  tasks().AddTaskLog(task.task_id(), absl::StrJoin(request.logs(), ""));
  return proto::PushLogsResponse();
}

// ServerApp tasks only (FlowerError 3005 otherwise).
absl::StatusOr<proto::GetNodesResponse> RuntimeService::GetNodes(const proto::Task& task,
                                                                 const proto::GetNodesRequest&) {
  if (absl::Status s = RequireServerApp(task); !s.ok()) return s;
  proto::GetNodesResponse response;
  // The online nodes' NodeInfo, as 1.42's get_node_info; a 1.36 caller reads it as `Node`
  // (field 1, node_id, is the same in both).
  const std::vector<uint64_t> online = state_->GetOnlineNodeIds();
  const absl::flat_hash_set<uint64_t> wanted(online.begin(), online.end());
  for (proto::NodeInfo& node : state_->ListNodes()) {
    if (wanted.contains(node.node_id())) *response.add_nodes() = std::move(node);
  }
  return response;
}

absl::StatusOr<proto::PushAppMessagesResponse> RuntimeService::PushMessages(
    const proto::Task& task, const proto::PushAppMessagesRequest& request) {
  if (absl::Status s = RequireServerApp(task); !s.ok()) return s;
  if (request.messages_list_size() == 0) {
    return absl::InvalidArgumentError("PushMessages: `messages_list` must not be empty");
  }
  if (request.messages_list_size() != request.message_object_trees_size()) {
    return absl::InvalidArgumentError("PushMessages: one object tree per message is required");
  }
  for (const proto::Message& message : request.messages_list()) {
    std::vector<std::string> errors = ValidateMessage(message, /*is_reply=*/false, clock_());
    if (!errors.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("PushMessages: ", absl::StrJoin(errors, ", ")));
    }
    if (message.metadata().run_id() != task.run_id()) {
      return absl::InvalidArgumentError("PushMessages: `Message.metadata` has mismatched `run_id`");
    }
  }
  ObserveBatch(task.run_id());
  proto::PushAppMessagesResponse response;
  const std::string session_id = state_->StartPushSession(task.run_id());
  response.set_session_id(session_id);
  absl::flat_hash_set<std::string> listed;
  for (int i = 0; i < request.messages_list_size(); ++i) {
    const proto::Message& message = request.messages_list(i);
    const proto::ObjectTree& tree = request.message_object_trees(i);
    absl::StatusOr<std::vector<std::string>> missing =
        tree.object_id() == message.metadata().message_id()
            ? state_->StoreMessageWithObjectTree(session_id, message, tree)
            : absl::FailedPreconditionError("not stored");
    if (!missing.ok()) {
      response.add_message_ids("");
      continue;
    }
    response.add_message_ids(message.metadata().message_id());
    for (std::string& id : *missing) {
      if (listed.insert(id).second) response.add_objects_to_push(std::move(id));
    }
  }
  return response;
}

absl::StatusOr<proto::PullAppMessagesResponse> RuntimeService::PullMessages(
    const proto::Task& task, const proto::PullAppMessagesRequest& request) {
  if (absl::Status s = RequireServerApp(task); !s.ok()) return s;
  std::vector<std::string> ids(request.message_ids().begin(), request.message_ids().end());
  absl::ReaderMutexLock lock(&state_->message_tree_mutex());
  std::vector<proto::Message> replies = state_->GetMessageRes(ids);
  std::vector<std::string> answered;
  for (const proto::Message& reply : replies) {
    if (reply.metadata().src_node_id() == kSuperLinkNodeId)
      StoreGeneratedReply(task.run_id(), reply);
    answered.push_back(reply.metadata().reply_to_message_id());
  }
  // And, as flwr 1.42, the run's instructions addressed to the SuperLink (node 1), handed out
  // once.
  for (proto::Message& instruction : state_->GetSuperLinkMessageIns(task.run_id())) {
    answered.push_back(instruction.metadata().message_id());
    replies.push_back(std::move(instruction));
  }
  state_->DeleteMessages(answered);
  proto::PullAppMessagesResponse response;
  for (proto::Message& reply : replies) {
    if (reply.metadata().src_node_id() != kSuperLinkNodeId &&
        reply.metadata().run_id() != task.run_id()) {
      return absl::InvalidArgumentError("PullMessages: `message.metadata` has mismatched `run_id`");
    }
    absl::StatusOr<proto::ObjectTree> tree =
        state_->object_store().GetObjectTree(reply.metadata().message_id());
    if (!tree.ok()) {
      core::LogError(tree.status().message());  // as flwr: logged, the reply left out
      continue;
    }
    *response.add_messages_list() = std::move(reply);
    *response.add_message_object_trees() = *std::move(tree);
  }
  return response;
}

absl::StatusOr<proto::PushObjectResponse> RuntimeService::PushObject(
    const proto::Task& task, proto::PushObjectRequest request) {
  if (absl::Status s = RequireServerApp(task); !s.ok()) return s;
  if (absl::Status s = RequireSuperLinkNode(request.node()); !s.ok()) return s;
  proto::PushObjectResponse response;
  response.set_stored(state_->StoreObject(task.run_id(), request.session_id(), request.object_id(),
                                          std::move(*request.mutable_object_content())));
  return response;
}

absl::StatusOr<std::string> RuntimeService::PullObject(const proto::Task& task,
                                                       const proto::PullObjectRequest& request) {
  if (absl::Status s = RequireServerApp(task); !s.ok()) return s;
  if (absl::Status s = RequireSuperLinkNode(request.node()); !s.ok()) return s;
  std::string response =
      core::SerializedPullObjectResponse(state_->object_store(), request.object_id());
  // Found but not available: the pusher may have died mid-upload (flwr's get_object).
  if (response == core::kObjectNotAvailableResponse &&
      state_->ExpirePushSessionsAwaiting(task.run_id(), request.object_id())) {
    response = core::SerializedPullObjectResponse(state_->object_store(), request.object_id());
  }
  return response;
}

absl::StatusOr<proto::ConfirmMessageReceivedResponse> RuntimeService::ConfirmMessageReceived(
    const proto::Task& task, const proto::ConfirmMessageReceivedRequest& request) {
  if (absl::Status s = RequireServerApp(task); !s.ok()) return s;
  state_->object_store().Delete(request.message_object_id());
  return proto::ConfirmMessageReceivedResponse();
}

void RuntimeService::StoreGeneratedReply(uint64_t run_id, const proto::Message& reply) {
  absl::StatusOr<core::Message> message = core::MessageFromProto(reply);
  if (!message.ok()) return;
  absl::StatusOr<core::ObjectBundle> bundle = core::DeflateMessage(*message);
  if (!bundle.ok()) return;
  if (!state_->object_store().Preregister(run_id, bundle->tree).ok()) return;
  for (const core::DeflatedObject& object : bundle->objects) {
    state_->object_store().Put(object.object_id, object.content()).IgnoreError();
  }
}

void RuntimeService::ForgetEndedRuns(uint64_t current) {
  std::vector<uint64_t> timed;
  {
    absl::MutexLock lock(&batches_mu_);
    for (const auto& [run_id, at] : last_batch_) {
      if (run_id != current) timed.push_back(run_id);
    }
  }
  std::vector<uint64_t> ended;
  for (uint64_t run_id : timed) {
    std::optional<proto::Run> run = state_->GetRun(run_id);
    if (!run || run->status().status() == core::kStatusFinished) ended.push_back(run_id);
  }
  if (ended.empty()) return;
  absl::MutexLock lock(&batches_mu_);
  for (uint64_t run_id : ended) last_batch_.erase(run_id);
}

void RuntimeService::ObserveBatch(uint64_t run_id) {
  if (!round_observer_) return;
  ForgetEndedRuns(run_id);
  const absl::Time now = clock_();
  absl::Duration since;
  {
    absl::MutexLock lock(&batches_mu_);
    auto [it, first] = last_batch_.try_emplace(run_id, now);
    if (first) return;
    since = now - it->second;
    it->second = now;
  }
  round_observer_(since);
}

}  // namespace flwr::superlink
