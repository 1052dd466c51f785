// RuntimeService: the Runtime API logic (SuperExec and ServerApp processes <-> SuperLink) of
// flwr's runtime handlers, transport-free. Flower 1.36 serves it as protobuf over HTTP.
#ifndef FLWR_SUPERLINK_RUNTIME_SERVICE_H_
#define FLWR_SUPERLINK_RUNTIME_SERVICE_H_

#include "absl/status/statusor.h"
#include "flwr/proto/log.pb.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/runtime.pb.h"
#include "flwr/superlink/link_state.h"

namespace flwr::superlink {

class RuntimeService {
 public:
  RuntimeService(LinkState* state, Clock clock = absl::Now) : state_(state), clock_(clock) {}

  // The task a `flwr-task-token` header value belongs to: FlowerError 1008 (401) for a
  // missing, unknown, revoked or expired token.
  absl::StatusOr<proto::Task> AuthenticateTask(absl::string_view token);

  // Unauthenticated: the SuperExec's polling.
  absl::StatusOr<proto::PullPendingTasksResponse> PullPendingTasks(
      const proto::PullPendingTasksRequest& request);
  absl::StatusOr<proto::ClaimTaskResponse> ClaimTask(const proto::ClaimTaskRequest& request);

  // Task-scoped calls of the process that holds `task`'s token.
  absl::StatusOr<proto::SendTaskHeartbeatResponse> SendTaskHeartbeat(
      const proto::Task& task, const proto::SendTaskHeartbeatRequest& request);
  absl::StatusOr<proto::PullTaskInputResponse> PullTaskInput(
      const proto::Task& task, const proto::PullTaskInputRequest& request);
  absl::StatusOr<proto::PushTaskOutputResponse> PushTaskOutput(
      const proto::Task& task, const proto::PushTaskOutputRequest& request);
  absl::StatusOr<proto::PushLogsResponse> PushLogs(const proto::Task& task,
                                                   const proto::PushLogsRequest& request);
  // ServerApp tasks only (FlowerError 3005 otherwise).
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
  // Stores a SuperLink-made error reply's objects so the ServerApp can pull them.
  void StoreGeneratedReply(uint64_t run_id, const proto::Message& reply);

  LinkState* state_;
  Clock clock_;
};

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_RUNTIME_SERVICE_H_
