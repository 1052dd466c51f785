// NodeRuntimeService: the SuperNode's Runtime API logic (the old ClientAppIo: SuperExec and
// `flwr-clientapp` processes <-> SuperNode), transport-free, as flwr's supernode runtime
// handlers of the pinned version (docs/flower-1.36-supernode-protocol.md §3.2). Flower 1.36
// serves it as protobuf over HTTP (core/runtime_http_api.h).
#ifndef FLWR_SUPERNODE_NODE_RUNTIME_SERVICE_H_
#define FLWR_SUPERNODE_NODE_RUNTIME_SERVICE_H_

#include "absl/status/statusor.h"
#include "flwr/proto/log.pb.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/runtime.pb.h"
#include "flwr/supernode/node_state.h"

namespace flwr::supernode {

class NodeRuntimeService {
 public:
  explicit NodeRuntimeService(NodeState* state) : state_(state) {}

  // The task a `flwr-task-token` header value belongs to: FlowerError 1008 (401) otherwise.
  absl::StatusOr<proto::Task> AuthenticateTask(absl::string_view token);

  // Unauthenticated: the SuperExec's polling.
  absl::StatusOr<proto::PullPendingTasksResponse> PullPendingTasks(
      const proto::PullPendingTasksRequest& request);
  absl::StatusOr<proto::ClaimTaskResponse> ClaimTask(const proto::ClaimTaskRequest& request);

  // Task-scoped calls of the ClientApp process that holds `task`'s token.
  absl::StatusOr<proto::SendTaskHeartbeatResponse> SendTaskHeartbeat(
      const proto::Task& task, const proto::SendTaskHeartbeatRequest& request);
  absl::StatusOr<proto::PullTaskInputResponse> PullTaskInput(
      const proto::Task& task, const proto::PullTaskInputRequest& request);
  absl::StatusOr<proto::PushTaskOutputResponse> PushTaskOutput(
      const proto::Task& task, const proto::PushTaskOutputRequest& request);
  absl::StatusOr<proto::PushLogsResponse> PushLogs(const proto::Task& task,
                                                   const proto::PushLogsRequest& request);
  // Deployment-runtime only: always FlowerError 3005 on a SuperNode.
  absl::StatusOr<proto::GetNodesResponse> GetNodes(const proto::Task& task,
                                                   const proto::GetNodesRequest& request);
  absl::StatusOr<proto::PushAppMessagesResponse> PushMessages(
      const proto::Task& task, const proto::PushAppMessagesRequest& request);
  absl::StatusOr<proto::PullAppMessagesResponse> PullMessages(
      const proto::Task& task, const proto::PullAppMessagesRequest& request);
  // By value: the object's bytes move into the store (no copy of a 5 MiB chunk).
  absl::StatusOr<proto::PushObjectResponse> PushObject(const proto::Task& task,
                                                       proto::PushObjectRequest request);
  // The serialized PullObjectResponse (core::SerializedPullObjectResponse).
  absl::StatusOr<std::string> PullObject(const proto::Task& task,
                                         const proto::PullObjectRequest& request);
  absl::StatusOr<proto::ConfirmMessageReceivedResponse> ConfirmMessageReceived(
      const proto::Task& task, const proto::ConfirmMessageReceivedRequest& request);

 private:
  NodeState* state_;
};

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_NODE_RUNTIME_SERVICE_H_
