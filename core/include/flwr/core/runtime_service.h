// RuntimeService: the Runtime API, transport-free, as the SuperLink serves it to SuperExecs and
// ServerApps (superlink::RuntimeService) and the SuperNode to SuperExecs and ClientApps
// (supernode::NodeRuntimeService), after flwr's runtime handlers
// (supercore/servicer/runtime/runtime_handlers.py). Flower 1.36 serves it as protobuf over
// HTTP (runtime_http_api.h). Implementations are thread-safe.
//
// The task endpoints (token authentication, the executor's polling, claiming and acquiring,
// heartbeats) are the same on both servers: this class serves them from the server's
// TaskStore; the servers implement the rest.
#ifndef FLWR_CORE_RUNTIME_SERVICE_H_
#define FLWR_CORE_RUNTIME_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/core/task_store.h"
#include "flwr/proto/log.pb.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/runtime.pb.h"
#include "flwr/proto/task.pb.h"

namespace flwr::core {

class RuntimeService {
 public:
  explicit RuntimeService(TaskStore& tasks) : tasks_(tasks) {}
  virtual ~RuntimeService() = default;

  // The task a `flwr-task-token` header value belongs to: FlowerError 1008 (401) for a
  // missing, unknown, revoked or expired token.
  absl::StatusOr<proto::Task> AuthenticateTask(absl::string_view token);

  // Unauthenticated: the SuperExec's polling. ClaimTask (Flower 1.36) answers a token if the
  // task was pending and unclaimed; AcquireTask (Flower 1.42) claims the oldest pending task of
  // a supported type and answers it with its token. Both answer an empty response otherwise.
  absl::StatusOr<proto::PullPendingTasksResponse> PullPendingTasks(
      const proto::PullPendingTasksRequest& request);
  absl::StatusOr<proto::ClaimTaskResponse> ClaimTask(const proto::ClaimTaskRequest& request);
  absl::StatusOr<proto::AcquireTaskResponse> AcquireTask(const proto::AcquireTaskRequest& request);

  absl::StatusOr<proto::SendTaskHeartbeatResponse> SendTaskHeartbeat(
      const proto::Task& task, const proto::SendTaskHeartbeatRequest& request);
  // flwr's push_task_events: stores the events as the task's (its run and task IDs); events
  // the store refuses (a data that is not a JSON object) are logged and dropped, as flwr does.
  absl::StatusOr<proto::PushTaskEventsResponse> PushTaskEvents(
      const proto::Task& task, const proto::PushTaskEventsRequest& request);

  // Task-scoped calls of the process that holds `task`'s token (AuthenticateTask's answer).
  virtual absl::StatusOr<proto::PullTaskInputResponse> PullTaskInput(
      const proto::Task& task, const proto::PullTaskInputRequest& request) = 0;
  virtual absl::StatusOr<proto::PushTaskOutputResponse> PushTaskOutput(
      const proto::Task& task, const proto::PushTaskOutputRequest& request) = 0;
  virtual absl::StatusOr<proto::PushLogsResponse> PushLogs(
      const proto::Task& task, const proto::PushLogsRequest& request) = 0;
  virtual absl::StatusOr<proto::GetNodesResponse> GetNodes(
      const proto::Task& task, const proto::GetNodesRequest& request) = 0;
  virtual absl::StatusOr<proto::PushAppMessagesResponse> PushMessages(
      const proto::Task& task, const proto::PushAppMessagesRequest& request) = 0;
  virtual absl::StatusOr<proto::PullAppMessagesResponse> PullMessages(
      const proto::Task& task, const proto::PullAppMessagesRequest& request) = 0;
  // By value: the object's bytes move into the store (no copy of a 5 MiB chunk).
  virtual absl::StatusOr<proto::PushObjectResponse> PushObject(
      const proto::Task& task, proto::PushObjectRequest request) = 0;
  // The serialized PullObjectResponse (core::SerializedPullObjectResponse).
  virtual absl::StatusOr<std::string> PullObject(const proto::Task& task,
                                                 const proto::PullObjectRequest& request) = 0;
  virtual absl::StatusOr<proto::ConfirmMessageReceivedResponse> ConfirmMessageReceived(
      const proto::Task& task, const proto::ConfirmMessageReceivedRequest& request) = 0;

 protected:
  TaskStore& tasks() { return tasks_; }

 private:
  TaskStore& tasks_;
};

}  // namespace flwr::core

// Declares every task-scoped call as an override, in the class body of a server's
// RuntimeService (each server implements all of them; their definitions say what differs).
#define FLWR_RUNTIME_SERVICE_OVERRIDES                                                             \
  absl::StatusOr<proto::PullTaskInputResponse> PullTaskInput(                                      \
      const proto::Task& task, const proto::PullTaskInputRequest& request) override;               \
  absl::StatusOr<proto::PushTaskOutputResponse> PushTaskOutput(                                    \
      const proto::Task& task, const proto::PushTaskOutputRequest& request) override;              \
  absl::StatusOr<proto::PushLogsResponse> PushLogs(                                                \
      const proto::Task& task, const proto::PushLogsRequest& request) override;                    \
  absl::StatusOr<proto::GetNodesResponse> GetNodes(                                                \
      const proto::Task& task, const proto::GetNodesRequest& request) override;                    \
  absl::StatusOr<proto::PushAppMessagesResponse> PushMessages(                                     \
      const proto::Task& task, const proto::PushAppMessagesRequest& request) override;             \
  absl::StatusOr<proto::PullAppMessagesResponse> PullMessages(                                     \
      const proto::Task& task, const proto::PullAppMessagesRequest& request) override;             \
  absl::StatusOr<proto::PushObjectResponse> PushObject(const proto::Task& task,                    \
                                                       proto::PushObjectRequest request) override; \
  absl::StatusOr<std::string> PullObject(const proto::Task& task,                                  \
                                         const proto::PullObjectRequest& request) override;        \
  absl::StatusOr<proto::ConfirmMessageReceivedResponse> ConfirmMessageReceived(                    \
      const proto::Task& task, const proto::ConfirmMessageReceivedRequest& request) override;

#endif  // FLWR_CORE_RUNTIME_SERVICE_H_
