#include "flwr/core/runtime_service.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/logging.h"

namespace flwr::core {

absl::StatusOr<proto::Task> RuntimeService::AuthenticateTask(absl::string_view token) {
  std::optional<proto::Task> task;
  if (!token.empty()) task = tasks_.GetTaskByToken(token);
  if (!task) return FlowerError(api_error::kRuntimeAuthenticationFailed, "Invalid task token");
  return *std::move(task);
}

absl::StatusOr<proto::PullPendingTasksResponse> RuntimeService::PullPendingTasks(
    const proto::PullPendingTasksRequest&) {
  proto::PullPendingTasksResponse response;
  for (proto::Task& task : tasks_.GetPendingTasks()) *response.add_tasks() = std::move(task);
  return response;
}

absl::StatusOr<proto::ClaimTaskResponse> RuntimeService::ClaimTask(
    const proto::ClaimTaskRequest& request) {
  proto::ClaimTaskResponse response;
  if (std::optional<std::string> token = tasks_.ClaimTask(request.task_id())) {
    response.set_token(*std::move(token));
  }
  return response;
}

absl::StatusOr<proto::AcquireTaskResponse> RuntimeService::AcquireTask(
    const proto::AcquireTaskRequest& request) {
  const std::vector<std::string> types(request.supported_task_types().begin(),
                                       request.supported_task_types().end());
  const std::vector<std::string> fab_hashes(request.agentapp_fab_hashes().begin(),
                                            request.agentapp_fab_hashes().end());
  proto::AcquireTaskResponse response;
  if (std::optional<AcquiredTask> acquired = tasks_.AcquireTask(types, fab_hashes)) {
    *response.mutable_task() = std::move(acquired->task);
    response.set_token(std::move(acquired->token));
  }
  return response;
}

absl::StatusOr<proto::SendTaskHeartbeatResponse> RuntimeService::SendTaskHeartbeat(
    const proto::Task& task, const proto::SendTaskHeartbeatRequest&) {
  proto::SendTaskHeartbeatResponse response;
  response.set_success(tasks_.AcknowledgeTaskHeartbeat(task.task_id()));
  return response;
}

absl::StatusOr<proto::PushTaskEventsResponse> RuntimeService::PushTaskEvents(
    const proto::Task& task, const proto::PushTaskEventsRequest& request) {
  if (request.events().empty()) return proto::PushTaskEventsResponse();
  std::vector<proto::TaskEvent> events(request.events().begin(), request.events().end());
  for (proto::TaskEvent& event : events) {
    event.set_run_id(task.run_id());
    event.set_task_id(task.task_id());
  }
  if (!tasks_.StoreTaskEvents(std::move(events))) {
    LogError(absl::StrCat("Task events could not be stored for task ", task.task_id(), " of run ",
                          task.run_id(), "."));
  }
  return proto::PushTaskEventsResponse();
}

}  // namespace flwr::core
