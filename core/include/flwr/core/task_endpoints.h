// The Runtime API endpoints of flwr's task system that the SuperLink and the SuperNode serve
// alike (supercore/servicer/runtime/runtime_handlers.py): token authentication, the
// executor's polling and claiming, and task heartbeats. `State` is a LinkState or NodeState:
// it provides GetTaskByToken, GetPendingTasks, ClaimTask and AcknowledgeTaskHeartbeat.
#ifndef FLWR_CORE_TASK_ENDPOINTS_H_
#define FLWR_CORE_TASK_ENDPOINTS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/core/flower_error.h"
#include "flwr/proto/runtime.pb.h"
#include "flwr/proto/task.pb.h"

namespace flwr::core {

// The task a `flwr-task-token` header value belongs to: FlowerError 1008 (401) for a missing,
// unknown, revoked or expired token.
template <typename State>
absl::StatusOr<proto::Task> AuthenticateTaskToken(State& state, absl::string_view token) {
  std::optional<proto::Task> task;
  if (!token.empty()) task = state.GetTaskByToken(token);
  if (!task) return FlowerError(api_error::kRuntimeAuthenticationFailed, "Invalid task token");
  return *std::move(task);
}

template <typename State>
proto::PullPendingTasksResponse PullPendingTasksOf(State& state) {
  proto::PullPendingTasksResponse response;
  for (proto::Task& task : state.GetPendingTasks()) *response.add_tasks() = std::move(task);
  return response;
}

// A token if the task was pending and unclaimed; an empty response (HTTP 200) otherwise.
template <typename State>
proto::ClaimTaskResponse ClaimTaskOf(State& state, const proto::ClaimTaskRequest& request) {
  proto::ClaimTaskResponse response;
  if (std::optional<std::string> token = state.ClaimTask(request.task_id())) {
    response.set_token(*std::move(token));
  }
  return response;
}

template <typename State>
proto::SendTaskHeartbeatResponse SendTaskHeartbeatOf(State& state, const proto::Task& task) {
  proto::SendTaskHeartbeatResponse response;
  response.set_success(state.AcknowledgeTaskHeartbeat(task.task_id()));
  return response;
}

}  // namespace flwr::core

#endif  // FLWR_CORE_TASK_ENDPOINTS_H_
