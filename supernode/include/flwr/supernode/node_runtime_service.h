// NodeRuntimeService: the SuperNode's Runtime API logic (the old ClientAppIo: SuperExec and
// `flwr-clientapp` processes <-> SuperNode), transport-free, as flwr's supernode runtime
// handlers of the pinned version (docs/flower-1.36-supernode-protocol.md §3.2). Flower 1.36
// serves it as protobuf over HTTP (core/runtime_http_api.h); core/runtime_service.h is the
// interface.
#ifndef FLWR_SUPERNODE_NODE_RUNTIME_SERVICE_H_
#define FLWR_SUPERNODE_NODE_RUNTIME_SERVICE_H_

#include "absl/status/statusor.h"
#include "flwr/core/runtime_service.h"
#include "flwr/supernode/node_state.h"

namespace flwr::supernode {

class NodeRuntimeService final : public core::RuntimeService {
 public:
  explicit NodeRuntimeService(NodeState* state)
      : core::RuntimeService(state->tasks()), state_(state) {}

  absl::StatusOr<proto::PullTaskInputResponse> PullTaskInput(
      const proto::Task& task, const proto::PullTaskInputRequest& request) override;
  absl::StatusOr<proto::PushTaskOutputResponse> PushTaskOutput(
      const proto::Task& task, const proto::PushTaskOutputRequest& request) override;
  absl::StatusOr<proto::PushLogsResponse> PushLogs(const proto::Task& task,
                                                   const proto::PushLogsRequest& request) override;
  // Deployment-runtime only: always FlowerError 3005 on a SuperNode.
  absl::StatusOr<proto::GetNodesResponse> GetNodes(const proto::Task& task,
                                                   const proto::GetNodesRequest& request) override;
  absl::StatusOr<proto::PushAppMessagesResponse> PushMessages(
      const proto::Task& task, const proto::PushAppMessagesRequest& request) override;
  absl::StatusOr<proto::PullAppMessagesResponse> PullMessages(
      const proto::Task& task, const proto::PullAppMessagesRequest& request) override;
  absl::StatusOr<proto::PushObjectResponse> PushObject(const proto::Task& task,
                                                       proto::PushObjectRequest request) override;
  absl::StatusOr<std::string> PullObject(const proto::Task& task,
                                         const proto::PullObjectRequest& request) override;
  absl::StatusOr<proto::ConfirmMessageReceivedResponse> ConfirmMessageReceived(
      const proto::Task& task, const proto::ConfirmMessageReceivedRequest& request) override;

 private:
  NodeState* state_;
};

}  // namespace flwr::supernode

#endif  // FLWR_SUPERNODE_NODE_RUNTIME_SERVICE_H_
